//! Precomputed answers: an [`Answer`] expanded into a fixed list of address
//! lists, so that the DNS server prebuilds each one and a query only picks
//! one (by a counter or a cheap random number) instead of building an
//! answer. Deterministic: the same answer, count and seed give the same
//! variants on every node.
//!
//! Weighted answers are apportioned, not sampled: with `max` variants each
//! candidate leads `max × weight / total` of them, rounded by largest
//! remainder, so 64 variants hit every share within 1/64. Positions after
//! the first are drawn by weight without replacement from a generator
//! seeded with `seed`. `backup_share` is apportioned the same way: that
//! share of the `max` variants, spread among the others, answers from the
//! next tier.
//!
//! A `consistent_hash` answer is not picked by query number but by the
//! client's hash bucket: its variants are its distinct answers, and
//! [`Answer::buckets`] gives the variant of each bucket.

use super::{Answer, BackupShare, Candidate, Selection, hash};
use crate::decide::Address;

impl Answer {
    /// Up to `max` (at least one) address lists that together serve this
    /// answer: one for a fixed answer, one per rotation (evenly spaced when
    /// there are more candidates than `max`) for round robin, exactly `max`
    /// for weighted and for an answer split by `backup_share`; for
    /// consistent hashing, one per candidate whatever `max`. Empty for
    /// NODATA and SERVFAIL.
    pub fn variants(&self, max: usize, seed: u64) -> Vec<Vec<Address>> {
        let Answer::Addresses {
            candidates,
            selection,
            backup,
        } = self
        else {
            return Vec::new();
        };
        let max = max.max(1);
        match (selection, backup) {
            (Selection::ConsistentHash, _) => hashed(candidates, backup.as_ref()),
            (_, None) => expand(candidates, *selection, max, seed),
            (_, Some(backup)) => split(candidates, *selection, backup, max, seed),
        }
    }

    /// For consistent hashing: the index into [`variants`](Self::variants)
    /// of the answer for each of the [`hash::BUCKETS`] client buckets, the
    /// same on every node. `None` for other answers, and when there is no
    /// candidate.
    pub fn buckets(&self) -> Option<Vec<u16>> {
        let Answer::Addresses {
            candidates,
            selection: Selection::ConsistentHash,
            backup,
        } = self
        else {
            return None;
        };
        let variants = hashed(candidates, backup.as_ref());
        let index = |address: Address| variants.iter().position(|v| v[0] == address).unwrap_or(0) as u16;
        let primary: Vec<u16> = hash::assign(candidates)
            .into_iter()
            .map(|i| index(candidates[i].address))
            .collect();
        let second = backup
            .as_ref()
            .filter(|b| !b.candidates.is_empty())
            .map(|b| (hash::to_backup(b.share), hash::assign(&b.candidates), b));
        let Some((to_backup, assigned, b)) = second else {
            return (!primary.is_empty()).then_some(primary);
        };
        let buckets = (0..hash::BUCKETS).map(|bucket| match (to_backup[bucket], primary.get(bucket)) {
            (false, Some(&i)) => i,
            _ => index(b.candidates[assigned[bucket]].address),
        });
        Some(buckets.collect())
    }
}

/// The variants of one tier's candidates under `selection`, at most `max`.
fn expand(candidates: &[Candidate], selection: Selection, max: usize, seed: u64) -> Vec<Vec<Address>> {
    match selection {
        Selection::Fixed => vec![candidates.iter().map(|c| c.address).collect()],
        Selection::RoundRobin { take } => rotations(candidates, take, max),
        Selection::Weighted { take } => weighted(candidates, take, max, seed),
        Selection::ConsistentHash => hashed(candidates, None),
    }
}

/// `max` variants, `backup.share` of them from the backup tier, spread out
/// among the others; each side's variants repeat in turn to fill its slots.
fn split(
    candidates: &[Candidate],
    selection: Selection,
    backup: &BackupShare,
    max: usize,
    seed: u64,
) -> Vec<Vec<Address>> {
    let to_backup = backup.share.of(max);
    let counts = [max - to_backup, to_backup];
    let sides = [
        expand(candidates, selection, counts[0].max(1), seed),
        expand(&backup.candidates, backup.selection, counts[1].max(1), seed),
    ];
    let mut used = [0usize; 2];
    smooth_order(&counts)
        .into_iter()
        .map(|side| {
            let variants = &sides[side];
            used[side] += 1;
            variants[(used[side] - 1) % variants.len()].clone()
        })
        .collect()
}

/// The distinct one-address answers of consistent hashing: the preferred
/// tier's candidates, then the backup tier's that are not among them.
fn hashed(candidates: &[Candidate], backup: Option<&BackupShare>) -> Vec<Vec<Address>> {
    let mut variants: Vec<Vec<Address>> = Vec::new();
    let backup = backup.map_or(&[][..], |b| &b.candidates[..]);
    for c in candidates.iter().chain(backup) {
        if !variants.iter().any(|v| v[0] == c.address) {
            variants.push(vec![c.address]);
        }
    }
    if variants.is_empty() {
        variants.push(Vec::new());
    }
    variants
}

/// `count` = min(n, max) rotations, starting at evenly spaced candidates.
fn rotations(candidates: &[Candidate], take: usize, max: usize) -> Vec<Vec<Address>> {
    let n = candidates.len();
    let count = n.clamp(1, max);
    (0..count)
        .map(|i| {
            let start = i * n / count;
            (0..take.min(n)).map(|j| candidates[(start + j) % n].address).collect()
        })
        .collect()
}

/// `max` draws of `take` distinct candidates by weight.
fn weighted(candidates: &[Candidate], take: usize, max: usize, seed: u64) -> Vec<Vec<Address>> {
    // Weight 0 is never drawn, unless every weight is 0: then all are equal.
    let mut pool: Vec<(Address, u64)> = candidates
        .iter()
        .filter(|c| c.weight > 0)
        .map(|c| (c.address, u64::from(c.weight)))
        .collect();
    if pool.is_empty() {
        pool = candidates.iter().map(|c| (c.address, 1)).collect();
    }
    if pool.is_empty() {
        return vec![Vec::new()];
    }
    let weights: Vec<u64> = pool.iter().map(|&(_, w)| w).collect();
    let mut leaders = smooth_order(&apportion(max, &weights));
    leaders.rotate_left((seed % max as u64) as usize);
    let mut rng = SplitMix64(seed);
    leaders
        .into_iter()
        .map(|first| {
            let mut rest: Vec<(Address, u64)> = pool.clone();
            let (address, _) = rest.remove(first);
            let mut answer = vec![address];
            while answer.len() < take && !rest.is_empty() {
                answer.push(draw(&mut rest, &mut rng));
            }
            answer
        })
        .collect()
}

/// Splits `total` slots in proportion to `weights` (largest remainder, ties
/// to the earlier candidate); the counts sum to `total`.
fn apportion(total: usize, weights: &[u64]) -> Vec<usize> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let quotas: Vec<(usize, u128)> = weights
        .iter()
        .map(|&w| {
            let exact = total as u128 * u128::from(w);
            ((exact / sum) as usize, exact % sum)
        })
        .collect();
    let mut counts: Vec<usize> = quotas.iter().map(|&(q, _)| q).collect();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by(|&a, &b| quotas[b].1.cmp(&quotas[a].1).then(a.cmp(&b)));
    let left = total - counts.iter().sum::<usize>();
    for &i in by_remainder.iter().take(left) {
        counts[i] += 1;
    }
    counts
}

/// Smooth weighted round robin over `counts`: a sequence of indexes of
/// length Σcounts in which index i appears exactly counts[i] times, spread
/// out rather than in runs.
fn smooth_order(counts: &[usize]) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let mut current = vec![0i128; counts.len()];
    let mut order = Vec::with_capacity(total);
    for _ in 0..total {
        for (c, &n) in current.iter_mut().zip(counts) {
            *c += n as i128;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .fold((0, i128::MIN), |acc, (i, &c)| if c > acc.1 { (i, c) } else { acc });
        current[best] -= total as i128;
        order.push(best);
    }
    order
}

/// SplitMix64's output function: a bijection of 64-bit words whose output
/// bits each depend on every input bit; the hash of consistent hashing.
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Removes one of `pool` drawn by weight and returns its address.
fn draw(pool: &mut Vec<(Address, u64)>, rng: &mut SplitMix64) -> Address {
    let sum: u64 = pool.iter().map(|&(_, w)| w).sum();
    let mut target = rng.below(sum);
    let i = pool
        .iter()
        .position(|&(_, w)| {
            if target < w {
                true
            } else {
                target -= w;
                false
            }
        })
        .unwrap_or(pool.len() - 1);
    pool.remove(i).0
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and the same on every
/// platform, which is all a deterministic draw needs.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A number in 0..n (0 when n is 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::answer_set::{Share, VARIANTS};
    use std::net::{IpAddr, Ipv4Addr};

    fn ip(last: u8) -> Address {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn candidates(weights: &[u32], first: u8) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Candidate {
                address: ip(first + i as u8),
                weight,
            })
            .collect()
    }

    fn answer(weights: &[u32], selection: Selection) -> Answer {
        Answer::Addresses {
            candidates: candidates(weights, 1),
            selection,
            backup: None,
        }
    }

    /// `primary` from 192.0.2.1, the backup tier (2) from 192.0.2.101.
    fn shared(primary: &[u32], backup: &[u32], selection: Selection, millionths: u32) -> Answer {
        Answer::Addresses {
            candidates: candidates(primary, 1),
            selection,
            backup: Some(BackupShare {
                tier: 2,
                share: Share::from_millionths(millionths).unwrap(),
                candidates: candidates(backup, 101),
                selection,
            }),
        }
    }

    /// The share of `answers` answers, picked by query number as the DNS
    /// server does, that contain `address`.
    fn share_of(variants: &[Vec<Address>], address: Address, answers: usize) -> f64 {
        let hits = (0..answers)
            .filter(|seq| variants[seq % variants.len()].contains(&address))
            .count();
        hits as f64 / answers as f64
    }

    /// How often each address leads the variants.
    fn leads(variants: &[Vec<Address>], n: u8) -> Vec<usize> {
        (1..=n)
            .map(|i| variants.iter().filter(|v| v[0] == ip(i)).count())
            .collect()
    }

    #[test]
    fn a_fixed_answer_is_one_variant() {
        let a = answer(&[1, 1, 1], Selection::Fixed);
        assert_eq!(a.variants(64, 9), [vec![ip(1), ip(2), ip(3)]]);
    }

    #[test]
    fn nodata_and_servfail_have_no_variants() {
        assert!(Answer::NoData.variants(64, 0).is_empty());
        assert!(Answer::ServFail.variants(64, 0).is_empty());
    }

    #[test]
    fn round_robin_gives_every_rotation() {
        let a = answer(&[1, 1, 1], Selection::RoundRobin { take: 8 });
        assert_eq!(
            a.variants(64, 0),
            [
                vec![ip(1), ip(2), ip(3)],
                vec![ip(2), ip(3), ip(1)],
                vec![ip(3), ip(1), ip(2)],
            ]
        );
    }

    #[test]
    fn round_robin_takes_max_answers_of_each_rotation() {
        let a = answer(&[1, 1, 1], Selection::RoundRobin { take: 2 });
        assert_eq!(
            a.variants(64, 0),
            [vec![ip(1), ip(2)], vec![ip(2), ip(3)], vec![ip(3), ip(1)]]
        );
    }

    #[test]
    fn round_robin_with_more_candidates_than_variants_spaces_the_starts() {
        let a = answer(&[1; 8], Selection::RoundRobin { take: 1 });
        assert_eq!(a.variants(4, 0), [vec![ip(1)], vec![ip(3)], vec![ip(5)], vec![ip(7)]]);
    }

    #[test]
    fn weighted_variants_lead_in_proportion_to_weight() {
        let a = answer(&[70, 20, 10], Selection::Weighted { take: 1 });
        let v = a.variants(64, 0);
        assert_eq!(v.len(), 64);
        // 44.8, 12.8, 6.4 → 45, 13, 6: every share within 1/64.
        assert_eq!(leads(&v, 3), [45, 13, 6]);
    }

    #[test]
    fn weighted_shares_stay_within_a_few_percent_for_uneven_weights() {
        let weights = [13, 7, 5, 3, 1];
        let v = answer(&weights, Selection::Weighted { take: 1 }).variants(64, 42);
        let total: u32 = weights.iter().sum();
        for (count, w) in leads(&v, 5).into_iter().zip(weights) {
            let share = count as f64 / 64.0;
            let want = f64::from(w) / f64::from(total);
            assert!((share - want).abs() <= 1.0 / 64.0, "{share} vs {want}");
        }
    }

    #[test]
    fn weighted_variants_are_spread_not_in_runs() {
        let v = answer(&[1, 1], Selection::Weighted { take: 1 }).variants(8, 0);
        let firsts: Vec<Address> = v.iter().map(|a| a[0]).collect();
        assert!(firsts.windows(2).all(|w| w[0] != w[1]), "{firsts:?}");
    }

    #[test]
    fn weighted_variants_draw_distinct_addresses_up_to_max_answers() {
        let a = answer(&[5, 3, 2, 1], Selection::Weighted { take: 3 });
        for v in a.variants(64, 7) {
            assert_eq!(v.len(), 3);
            let mut d = v.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), 3, "{v:?}");
        }
        let few = answer(&[5, 3], Selection::Weighted { take: 3 });
        assert!(few.variants(16, 7).iter().all(|v| v.len() == 2));
    }

    #[test]
    fn weighted_variants_are_deterministic_and_seeded() {
        let a = answer(&[5, 3, 2, 1], Selection::Weighted { take: 2 });
        assert_eq!(a.variants(64, 1), a.variants(64, 1));
        assert_ne!(a.variants(64, 1), a.variants(64, 2));
        // Whatever the seed, the leading shares are the same.
        assert_eq!(leads(&a.variants(64, 1), 4), leads(&a.variants(64, 2), 4));
    }

    #[test]
    fn weight_zero_is_never_drawn_unless_all_are_zero() {
        let a = answer(&[0, 1], Selection::Weighted { take: 2 });
        assert!(a.variants(16, 3).iter().all(|v| v == &[ip(2)]));
        let zeros = answer(&[0, 0], Selection::Weighted { take: 1 });
        assert_eq!(leads(&zeros.variants(16, 3), 2), [8, 8]);
    }

    #[test]
    fn at_least_one_variant_is_made() {
        let a = answer(&[1, 2], Selection::Weighted { take: 1 });
        assert_eq!(a.variants(0, 0).len(), 1);
        let r = answer(&[1, 2], Selection::RoundRobin { take: 1 });
        assert_eq!(r.variants(0, 0).len(), 1);
    }

    #[test]
    fn empty_candidates_give_one_empty_variant() {
        for selection in [
            Selection::Fixed,
            Selection::RoundRobin { take: 1 },
            Selection::Weighted { take: 1 },
        ] {
            assert_eq!(answer(&[], selection).variants(8, 0), [Vec::<Address>::new()]);
        }
    }

    #[test]
    fn apportion_uses_largest_remainders() {
        assert_eq!(apportion(64, &[1, 1, 1]), [22, 21, 21]);
        assert_eq!(apportion(10, &[3, 1]), [8, 2]);
        assert_eq!(apportion(4, &[1, 1000]), [0, 4]);
        assert_eq!(apportion(4, &[u64::MAX, u64::MAX]), [2, 2]);
        assert_eq!(apportion(4, &[0, 0]), [0, 0]);
    }

    #[test]
    fn smooth_order_gives_each_index_its_count() {
        let order = smooth_order(&[5, 2, 1]);
        assert_eq!(order, [0, 1, 0, 0, 2, 0, 1, 0]);
        let order = smooth_order(&[7, 0, 9]);
        assert_eq!(order.iter().filter(|&&i| i == 0).count(), 7);
        assert_eq!(order.iter().filter(|&&i| i == 2).count(), 9);
    }

    #[test]
    fn split_mix_is_the_reference_sequence() {
        // First output of SplitMix64 seeded with 0 (reference implementation).
        assert_eq!(SplitMix64(0).next(), 0xE220_A839_7B1D_CDAF);
        let mut r = SplitMix64(1);
        assert!((0..1000).all(|_| r.below(3) < 3));
        assert_eq!(SplitMix64(5).below(0), 0);
    }

    // ---- backup_share ----------------------------------------------------

    #[test]
    fn a_tenth_backup_share_is_ten_percent_of_ten_thousand_answers() {
        for selection in [
            Selection::Fixed,
            Selection::RoundRobin { take: 1 },
            Selection::Weighted { take: 1 },
        ] {
            let v = shared(&[1, 1], &[1], selection, 100_000).variants(VARIANTS, 3);
            assert_eq!(v.len(), VARIANTS);
            let share = share_of(&v, ip(101), 10_000);
            assert!((share - 0.1).abs() <= 0.02, "{selection:?}: {share}");
        }
    }

    #[test]
    fn backup_variants_are_spread_among_the_preferred_ones() {
        let v = shared(&[1], &[1], Selection::Fixed, 250_000).variants(8, 0);
        let from_backup: Vec<bool> = v.iter().map(|a| a == &[ip(101)]).collect();
        assert_eq!(from_backup, [false, false, true, false, false, false, true, false]);
    }

    #[test]
    fn each_side_keeps_its_policy_within_its_share() {
        let v = shared(&[3, 1], &[1, 1], Selection::Weighted { take: 1 }, 500_000).variants(64, 0);
        let count = |a| v.iter().filter(|x| x[0] == ip(a)).count();
        assert_eq!([count(1), count(2), count(101), count(102)], [24, 8, 16, 16]);
        let rr = shared(&[1, 1, 1], &[1], Selection::RoundRobin { take: 3 }, 500_000).variants(6, 0);
        let primary: Vec<&Vec<Address>> = rr.iter().filter(|a| a[0] != ip(101)).collect();
        assert_eq!(
            primary,
            [
                &vec![ip(1), ip(2), ip(3)],
                &vec![ip(2), ip(3), ip(1)],
                &vec![ip(3), ip(1), ip(2)]
            ]
        );
    }

    #[test]
    fn a_small_share_still_reaches_the_backup_and_a_large_one_leaves_some_preferred() {
        let tiny = shared(&[1], &[1], Selection::Fixed, 1).variants(64, 0);
        assert_eq!(tiny.iter().filter(|a| a == &&[ip(101)]).count(), 1);
        let most = shared(&[1], &[1], Selection::Fixed, 999_999).variants(64, 0);
        assert_eq!(most.iter().filter(|a| a == &&[ip(1)]).count(), 1);
    }

    #[test]
    fn share_of_rounds_to_the_nearest_slot() {
        let share = |m| Share::from_millionths(m).unwrap();
        assert_eq!(share(100_000).of(64), 6);
        assert_eq!(share(500_000).of(64), 32);
        assert_eq!(Share::ALL.of(64), 64);
        assert_eq!(Share::NONE.of(64), 0);
        assert_eq!(share(1).of(1), 1);
        assert_eq!(share(100_000).of(4096), 410);
        assert!(Share::from_millionths(1_000_001).is_none());
    }

    // ---- consistent_hash -------------------------------------------------

    #[test]
    fn a_hashed_answer_has_one_variant_per_address_and_a_bucket_table() {
        let a = answer(&[1, 1, 1], Selection::ConsistentHash);
        assert_eq!(a.variants(64, 0), [vec![ip(1)], vec![ip(2)], vec![ip(3)]]);
        let buckets = a.buckets().unwrap();
        assert_eq!(buckets.len(), hash::BUCKETS);
        for i in 0..3 {
            let n = buckets.iter().filter(|&&b| b == i).count();
            assert!((1200..=1540).contains(&n), "variant {i}: {n} buckets");
        }
        assert_eq!(answer(&[1], Selection::Fixed).buckets(), None);
        assert_eq!(answer(&[], Selection::ConsistentHash).buckets(), None);
    }

    #[test]
    fn an_address_leaving_moves_only_its_buckets() {
        let before = answer(&[1, 1, 1, 1], Selection::ConsistentHash);
        let mut three = candidates(&[1, 1, 1, 1], 1);
        three.remove(1);
        let after = Answer::Addresses {
            candidates: three,
            selection: Selection::ConsistentHash,
            backup: None,
        };
        let addresses = |a: &Answer| -> Vec<Address> {
            let variants = a.variants(64, 0);
            a.buckets().unwrap().iter().map(|&i| variants[i as usize][0]).collect()
        };
        let (b, a) = (addresses(&before), addresses(&after));
        let moved = (0..hash::BUCKETS).filter(|&i| b[i] != a[i]).count();
        assert_eq!(moved, b.iter().filter(|&&x| x == ip(2)).count());
        assert!((900..=1150).contains(&moved), "{moved}");
    }

    #[test]
    fn a_hashed_backup_share_sends_its_share_of_buckets_to_the_backup() {
        let a = shared(&[1, 1], &[1], Selection::ConsistentHash, 100_000);
        let variants = a.variants(64, 0);
        assert_eq!(variants, [vec![ip(1)], vec![ip(2)], vec![ip(101)]]);
        let buckets = a.buckets().unwrap();
        assert_eq!(buckets.iter().filter(|&&i| i == 2).count(), 410);
        // The preferred buckets keep their address.
        let alone = answer(&[1, 1], Selection::ConsistentHash).buckets().unwrap();
        assert!((0..hash::BUCKETS).all(|b| buckets[b] == 2 || buckets[b] == alone[b]));
    }
}
