//! Property tests: exact sums, proportionality within one unit, order independence.

use crate::{owner, share};
use proptest::prelude::*;
use trellis_primitives::{Amount, Epoch};
use trellis_rewards::{
    compute_epoch, distribute, pay_pool, CreditValue, DeviceShare, EmissionSchedule, EpochInputs, NetEmission, Pool,
    PoolAmounts, PoolSplit, RewardConfig,
};

fn shares_strategy() -> impl Strategy<Value = Vec<trellis_rewards::DeviceShare>> {
    proptest::collection::vec(
        (
            0u32..500,
            0u32..50,
            0usize..4,
            prop_oneof![0u64..10, 0u64..1_000_000, Just(u64::MAX / 1_000)],
            prop_oneof![Just(0u64), 0u64..1_000, 0u64..10_000_000_000],
        ),
        0..200,
    )
    .prop_map(|v| {
        let mut seen = std::collections::BTreeSet::new();
        v.into_iter()
            .filter(|(d, _, p, _, _)| seen.insert((*d, *p)))
            .map(|(d, o, p, u, c)| DeviceShare {
                earned_credits: c,
                ..share(d, o, Pool::EARNING[p], u)
            })
            .collect()
    })
}

fn credit_value_strategy() -> impl Strategy<Value = Option<CreditValue>> {
    prop_oneof![
        Just(None),
        (1u64..1_000, 1u64..100_000_000).prop_map(|(c, t)| Some(CreditValue {
            credit_price_micro_usd: c,
            micro_usd_per_trl: t,
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn distribute_pays_exactly_the_pool_within_one_unit_of_proportional(
        pool in 0u64..=u64::MAX,
        units in proptest::collection::vec(0u64..=u64::MAX / 256, 1..100),
    ) {
        let shares: Vec<_> = units.iter().enumerate().map(|(i, u)| share(i as u32, 0, Pool::Coverage, *u)).collect();
        let refs: Vec<_> = shares.iter().collect();
        match distribute(Amount::from_units(pool), &refs) {
            Ok((payouts, remainder)) => {
                let paid: u128 = payouts.iter().map(|p| u128::from(p.amount.units())).sum();
                prop_assert_eq!(paid + u128::from(remainder.units()), u128::from(pool));
                let total: u128 = units.iter().map(|u| u128::from(*u)).sum();
                for p in &payouts {
                    // amount ≤ exact share < amount + 1, i.e. floor.
                    let exact_num = u128::from(pool) * u128::from(p.units);
                    prop_assert!(u128::from(p.amount.units()) * total <= exact_num);
                    prop_assert!(exact_num < (u128::from(p.amount.units()) + 1) * total);
                }
                prop_assert!(remainder.units() < payouts.len().max(1) as u64 || payouts.is_empty());
            }
            Err(e) => {
                // Only when the units themselves overflow u64 in sum.
                let total: u128 = units.iter().map(|u| u128::from(*u)).sum();
                prop_assert!(total > u128::from(u64::MAX), "unexpected error {e}");
            }
        }
    }

    #[test]
    fn epoch_accounting_is_exact_and_order_independent(
        shares in shares_strategy(),
        emission in 0u64..(1u64 << 60),
        carry in proptest::array::uniform6(0u64..1_000_000),
        seed in any::<u64>(),
        credit_value in credit_value_strategy(),
    ) {
        let config = RewardConfig {
            schedule: EmissionSchedule { initial_epoch_emission: Amount::from_units(emission), halving_period_epochs: 100, supply_cap: None, net_emission: NetEmission::Off },
            split: PoolSplit::default(),
            treasury: owner(9_000),
            operations: owner(9_001),
        };
        let mut carry_in = PoolAmounts::default();
        for (pool, c) in Pool::EARNING.iter().zip(carry) {
            carry_in.set(*pool, Amount::from_units(c));
        }
        let inputs = EpochInputs { epoch: Epoch(3), issued_so_far: Amount::ZERO, burned_in_epoch: Amount::ZERO, carry: carry_in, shares: shares.clone(), credit_value };
        let r = compute_epoch(&config, &inputs).unwrap();
        let lhs = u128::from(r.manifest.total.units()) + u128::from(r.next_carry.total().unwrap().units());
        prop_assert_eq!(lhs, u128::from(emission) + u128::from(carry_in.total().unwrap().units()));
        prop_assert!(r.manifest.owners.windows(2).all(|w| w[0].owner < w[1].owner));
        prop_assert!(r.manifest.owners.iter().all(|o| !o.amount.is_zero()));
        // Any permutation of the inputs gives the same manifest.
        let mut shuffled = shares;
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let again = compute_epoch(&config, &EpochInputs { shares: shuffled, ..inputs }).unwrap();
        prop_assert_eq!(again.manifest, r.manifest);
    }

    #[test]
    fn a_pool_pays_earned_credits_first_and_exactly(
        pool in 0u64..(1u64 << 62),
        entries in proptest::collection::vec((0u64..1_000_000, 0u64..10_000_000), 1..60),
        value in (1u64..100, 1u64..10_000_000),
    ) {
        let value = CreditValue { credit_price_micro_usd: value.0, micro_usd_per_trl: value.1 };
        let shares: Vec<DeviceShare> = entries
            .iter()
            .enumerate()
            .map(|(i, &(units, credits))| DeviceShare { earned_credits: credits, ..share(i as u32, 0, Pool::Storage, units) })
            .collect();
        let refs: Vec<_> = shares.iter().collect();
        let (payouts, remainder) = pay_pool(Amount::from_units(pool), &refs, Some(&value)).unwrap();
        let paid: u128 = payouts.iter().map(|p| u128::from(p.amount.units())).sum();
        prop_assert_eq!(paid + u128::from(remainder.units()), u128::from(pool));
        let owed: Vec<u128> = shares.iter().map(|s| u128::from(value.units_for(s.earned_credits).unwrap())).collect();
        let owed_total: u128 = owed.iter().sum();
        for (s, o) in shares.iter().zip(&owed) {
            let p = payouts.iter().find(|p| p.device == s.device);
            let for_credits = p.map_or(0, |p| u128::from(p.for_credits.units()));
            if owed_total <= u128::from(pool) {
                // Covered: every credit is paid at its full value, units share what is left.
                prop_assert_eq!(for_credits, *o);
            } else {
                // Scaled down alike, and nothing for units.
                prop_assert_eq!(for_credits, u128::from(pool) * o / owed_total);
                prop_assert_eq!(p.map_or(0, |p| u128::from(p.amount.units())), for_credits);
            }
            prop_assert!(p.is_none_or(|p| p.for_credits <= p.amount));
        }
        prop_assert!(payouts.windows(2).all(|w| w[0].device < w[1].device));
    }
}
