//! Consistent hashing for the `consistent_hash` policy: client subnets fall
//! into [`BUCKETS`] buckets, and each bucket is given one candidate by
//! rendezvous (highest random weight) hashing (Thaler and Ravishankar,
//! 1998): the candidate with the highest score of hash(bucket, address).
//!
//! A bucket's winner changes only when the winner leaves or a candidate
//! with a higher score arrives, so when one of n candidates leaves, exactly
//! the ≈ 1/n of buckets it had move and no others. Everything is integer
//! arithmetic on fixed salts: every node maps every subnet alike, and the
//! DNS server only looks a bucket up in a precomputed table.

use std::net::IpAddr;

use super::variants::mix64;
use super::{Candidate, Share};

/// Hash buckets of client subnets. 4,096 keeps the table small (8 KiB of
/// variant indexes per record) while a bucket is still a small slice of
/// any realistic resolver population; every share is met within 1/4096.
pub const BUCKETS: usize = 4096;

/// The prefix that identifies a client: a /24 (IPv4) or /56 (IPv6), what
/// RFC 7871 §11.1 asks resolvers to truncate EDNS Client Subnet addresses
/// to, and the usual allocation to one site: one site's resolvers share a
/// bucket.
pub const CLIENT_PREFIX_V4: u8 = 24;
pub const CLIENT_PREFIX_V6: u8 = 56;

const SALT_CLIENT: u64 = 0x6c69_6665_6c69_6e65;
const SALT_BUCKET: u64 = 0x9e37_79b9_7f4a_7c15;
const SALT_BACKUP: u64 = 0xd1b5_4a32_d192_ed03;

/// The bucket of a client: of the EDNS Client Subnet address when the
/// query has one, else of the resolver's source address. Only the first
/// [`CLIENT_PREFIX_V4`] or [`CLIENT_PREFIX_V6`] bits count.
pub fn bucket(client: IpAddr) -> u16 {
    let key = match client {
        IpAddr::V4(a) => u64::from(u32::from(a) & (u32::MAX << (32 - CLIENT_PREFIX_V4))),
        IpAddr::V6(a) => {
            let masked = u128::from(a) & (u128::MAX << (128 - CLIENT_PREFIX_V6));
            ((masked >> 64) as u64) ^ mix64(masked as u64 ^ 6)
        }
    };
    (mix64(key ^ SALT_CLIENT) % BUCKETS as u64) as u16
}

/// A stable key per address, the same on every node.
fn address_key(address: IpAddr) -> u64 {
    match address {
        IpAddr::V4(a) => mix64(u64::from(u32::from(a)) ^ 4),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            mix64((bits >> 64) as u64 ^ mix64(bits as u64))
        }
    }
}

/// For each bucket, the index of the candidate it is given; empty when
/// there are no candidates.
pub(super) fn assign(candidates: &[Candidate]) -> Vec<usize> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let keys: Vec<u64> = candidates.iter().map(|c| address_key(c.address)).collect();
    (0..BUCKETS as u64)
        .map(|bucket| {
            let b = mix64(bucket ^ SALT_BUCKET);
            // Ties (a 2^-64 chance) go to the earlier candidate.
            let (winner, _) = keys.iter().enumerate().fold((0, 0), |best, (i, &k)| {
                let score = mix64(k ^ b);
                if i == 0 || score > best.1 { (i, score) } else { best }
            });
            winner
        })
        .collect()
}

/// Which buckets `backup_share` sends to the next tier: the
/// `share.of(BUCKETS)` buckets ranked lowest by a salted hash, so a larger
/// share only adds buckets and the same share always picks the same ones.
pub(super) fn to_backup(share: Share) -> Vec<bool> {
    let mut ranked: Vec<(u64, usize)> = (0..BUCKETS).map(|b| (mix64(b as u64 ^ SALT_BACKUP), b)).collect();
    ranked.sort_unstable();
    let mut backup = vec![false; BUCKETS];
    for &(_, b) in &ranked[..share.of(BUCKETS)] {
        backup[b] = true;
    }
    backup
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn candidates(n: u8) -> Vec<Candidate> {
        (1..=n)
            .map(|i| Candidate {
                address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)),
                weight: 1,
            })
            .collect()
    }

    #[test]
    fn every_candidate_gets_about_its_share_of_buckets() {
        let assigned = assign(&candidates(4));
        assert_eq!(assigned.len(), BUCKETS);
        for i in 0..4 {
            let n = assigned.iter().filter(|&&a| a == i).count();
            // 1024 expected; a binomial deviation of 4 sigma is 111.
            assert!((900..=1150).contains(&n), "candidate {i}: {n} buckets");
        }
    }

    #[test]
    fn a_removed_candidate_moves_its_buckets_and_no_others() {
        for n in [2u8, 4, 7, 16] {
            let all = candidates(n);
            let before = assign(&all);
            let gone = n as usize / 2;
            let mut rest = all.clone();
            rest.remove(gone);
            let after = assign(&rest);
            let address = |set: &[Candidate], i: usize| set[i].address;
            let moved = (0..BUCKETS)
                .filter(|&b| address(&all, before[b]) != address(&rest, after[b]))
                .count();
            let had = before.iter().filter(|&&i| i == gone).count();
            // Exactly the removed candidate's buckets move: ≈ 1/n of them.
            assert_eq!(moved, had, "n = {n}");
            let expected = BUCKETS / n as usize;
            assert!(moved.abs_diff(expected) <= expected / 4 + 40, "n = {n}: {moved} moved");
            // And they spread over the others.
            let (b, _) = (0..BUCKETS).map(|b| (b, before[b])).find(|&(_, i)| i == gone).unwrap();
            assert_ne!(address(&rest, after[b]), address(&all, gone));
        }
    }

    #[test]
    fn an_added_candidate_takes_buckets_only_for_itself() {
        let three = candidates(3);
        let four = candidates(4);
        let (before, after) = (assign(&three), assign(&four));
        for b in 0..BUCKETS {
            let (old, new) = (three[before[b]].address, four[after[b]].address);
            assert!(old == new || new == four[3].address, "bucket {b}");
        }
    }

    #[test]
    fn the_order_of_candidates_does_not_matter() {
        let forward = candidates(5);
        let mut backward = forward.clone();
        backward.reverse();
        let (f, b) = (assign(&forward), assign(&backward));
        assert!((0..BUCKETS).all(|i| forward[f[i]].address == backward[b[i]].address));
    }

    #[test]
    fn no_candidates_no_buckets() {
        assert!(assign(&[]).is_empty());
    }

    #[test]
    fn a_client_subnet_is_its_24_or_56() {
        let v4 = |last| IpAddr::V4(Ipv4Addr::new(198, 51, 100, last));
        assert_eq!(bucket(v4(1)), bucket(v4(254)));
        assert_ne!(bucket(v4(1)), bucket(IpAddr::V4(Ipv4Addr::new(198, 51, 101, 1))));
        let v6 = |s: &str| s.parse::<Ipv6Addr>().map(IpAddr::V6).unwrap();
        assert_eq!(bucket(v6("2001:db8:0:ff::1")), bucket(v6("2001:db8:0:0::2")));
        assert_ne!(bucket(v6("2001:db8:0:100::1")), bucket(v6("2001:db8:0:0::1")));
    }

    #[test]
    fn subnets_spread_over_the_buckets() {
        let mut seen = vec![0u32; BUCKETS];
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                seen[bucket(IpAddr::V4(Ipv4Addr::new(10, a, b, 0))) as usize] += 1;
            }
        }
        // 65,536 subnets, 16 per bucket on average.
        assert!(seen.iter().all(|&n| n > 0 && n < 48), "max {:?}", seen.iter().max());
    }

    #[test]
    fn backup_buckets_are_the_share_and_grow_with_it() {
        let tenth = to_backup(Share::from_millionths(100_000).unwrap());
        let fifth = to_backup(Share::from_millionths(200_000).unwrap());
        assert_eq!(tenth.iter().filter(|&&b| b).count(), 410);
        assert_eq!(fifth.iter().filter(|&&b| b).count(), 819);
        assert!((0..BUCKETS).all(|b| !tenth[b] || fifth[b]));
        assert!(to_backup(Share::NONE).iter().all(|&b| !b));
        assert!(to_backup(Share::ALL).iter().all(|&b| b));
    }
}
