//! Codec tests for every transaction kind, and the decoder properties the fuzz targets check.

mod kinds {
    use crate::{merkle::MerkleProof, params::Params, tx::*};
    use trellis_primitives::{Amount, Credits, DecodeError, Encode, Epoch, Hash, Keypair, Location};

    fn sample_kinds() -> Vec<TxKind> {
        let k = |n: u8| Keypair::from_seed([n; 32]).public();
        let loc = Location::from_degrees(37.77, -122.42).unwrap();
        vec![
            TxKind::Transfer {
                to: k(2).into(),
                amount: Amount::from_units(5),
            },
            TxKind::OnboardDevice {
                device: k(3).into(),
                maker: k(4),
                class: DeviceClass::Storage,
                capabilities: vec![Capability {
                    name: "capacity_bytes".into(),
                    value: 1 << 40,
                }],
            },
            TxKind::AssertLocation {
                device: k(3).into(),
                location: loc,
                antenna: Some(Antenna {
                    gain_dbi_tenths: 12,
                    elevation_m: 5,
                }),
            },
            TxKind::BurnForCredits {
                amount: Amount::from_units(9),
                beneficiary: k(1).into(),
            },
            TxKind::SpendCredits {
                amount: Credits(3),
                purpose: Hash::ZERO,
            },
            TxKind::Stake {
                device: k(3).into(),
                amount: Amount::from_units(1),
            },
            TxKind::Unstake {
                device: k(3).into(),
                amount: Amount::from_units(1),
            },
            TxKind::WithdrawUnbonded,
            TxKind::Slash {
                device: k(3).into(),
                amount: Amount::from_units(1),
                evidence: Hash::ZERO,
                reason: "x".into(),
            },
            TxKind::PostPrice {
                micro_usd_per_trl: 1_500_000,
            },
            TxKind::PostRewardManifest {
                epoch: Epoch(3),
                root: Hash::ZERO,
                total: Amount::from_units(7),
                owner_count: 2,
            },
            TxKind::ClaimReward {
                epoch: Epoch(3),
                owner: k(1).into(),
                amount: Amount::from_units(7),
                proof: MerkleProof {
                    index: 0,
                    leaf_count: 1,
                    siblings: vec![],
                },
            },
            TxKind::Governance {
                action: GovAction::SetParams {
                    params: Params::default(),
                },
            },
            TxKind::Governance {
                action: GovAction::SetOracles {
                    committee: Committee {
                        threshold: 1,
                        members: vec![k(1)],
                    },
                },
            },
            TxKind::Governance {
                action: GovAction::SetRewardParams {
                    params: crate::RewardParams {
                        initial_epoch_emission: Amount::from_units(9),
                        halving_period_epochs: 3,
                        supply_cap: Some(Amount::from_units(99)),
                        net_emission_cap_per_epoch: None,
                        split: crate::PoolSplit {
                            coverage_bps: 10_000,
                            storage_bps: 0,
                            compute_bps: 0,
                            sensor_energy_bps: 0,
                            operations_bps: 0,
                            treasury_bps: 0,
                        },
                        treasury: k(1).into(),
                        operations: k(2).into(),
                    },
                },
            },
            TxKind::Compute(ComputeTx::SetOffer {
                device: k(3).into(),
                slots: 4,
                price_per_gfuel: Credits(10),
                score: 77,
            }),
            TxKind::Compute(ComputeTx::PostJob {
                spec: JobSpec {
                    nonce: [3; 16],
                    module: Hash([1; 32]),
                    entry: "render".into(),
                    input: Hash([2; 32]),
                    fuel: 1 << 30,
                    memory_bytes: 1 << 26,
                    max_price_per_gfuel: Credits(12),
                    min_score: 5,
                    sample_ppm: 50_000,
                    replicas: 2,
                    deadline_blocks: 9,
                },
            }),
            TxKind::Compute(ComputeTx::Commit {
                job: Hash([4; 32]),
                device: k(3).into(),
                claim: ComputeClaim {
                    commitment: Hash([5; 32]),
                    fuel_used: 99,
                },
            }),
            TxKind::Compute(ComputeTx::Verify {
                job: Hash([4; 32]),
                device: k(4).into(),
                claim: ComputeClaim {
                    commitment: Hash([6; 32]),
                    fuel_used: 98,
                },
            }),
            TxKind::Compute(ComputeTx::Finalize { job: Hash([4; 32]) }),
            TxKind::Compute(ComputeTx::Reassign { job: Hash([4; 32]) }),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_the_codec() {
        let signer = Keypair::from_seed([1; 32]);
        for kind in sample_kinds() {
            let body = TxBody {
                chain_id: "t".into(),
                signer: signer.public().into(),
                nonce: 4,
                fee: Amount::from_units(1),
                kind,
            };
            let tx = Transaction::sign(body, &signer).cosign(&Keypair::from_seed([9; 32]));
            let bytes = tx.to_bytes();
            assert_eq!(Transaction::decode_untrusted(&bytes).unwrap(), tx);
            // Every strict prefix fails to decode.
            for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
                assert!(Transaction::decode_untrusted(&bytes[..cut]).is_err());
            }
        }
    }

    #[test]
    fn oversize_transaction_is_rejected_before_decoding() {
        let bytes = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            Transaction::decode_untrusted(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn committee_counts_distinct_members_only() {
        let k = |n: u8| Keypair::from_seed([n; 32]).public();
        let mut members = vec![k(1), k(2), k(3)];
        members.sort();
        let c = Committee { threshold: 2, members };
        assert_eq!(c.count_members([k(1), k(1), k(9)].iter()), 1);
        assert_eq!(c.count_members([k(1), k(3), k(9)].iter()), 2);
        assert!(Committee {
            threshold: 4,
            members: c.members.clone()
        }
        .validate("admins")
        .is_err());
    }
}

mod decode_props {
    use crate::tx::*;
    use proptest::prelude::*;
    use trellis_primitives::{Amount, Encode, Keypair};

    fn valid_bytes() -> Vec<u8> {
        let k = Keypair::from_seed([3; 32]);
        let body = TxBody {
            chain_id: "fuzz".into(),
            signer: k.public().into(),
            nonce: 1,
            fee: Amount::from_units(10),
            kind: TxKind::OnboardDevice {
                device: k.public().into(),
                maker: k.public(),
                class: DeviceClass::Compute,
                capabilities: vec![Capability {
                    name: "slots".into(),
                    value: 4,
                }],
            },
        };
        Transaction::sign(body, &k)
            .cosign(&Keypair::from_seed([4; 32]))
            .to_bytes()
    }

    proptest! {
        // The same property as the cargo-fuzz target `tx_decode`, run on every `cargo test`:
        // arbitrary and mutated inputs never panic, and anything that decodes re-encodes to the
        // identical bytes.
        #[test]
        fn mutated_transactions_decode_canonically_or_fail_cleanly(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = valid_bytes();
            for (pos, byte) in flips {
                let len = bytes.len();
                bytes[pos % len] = byte;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            bytes.extend_from_slice(&junk);
            if let Ok(tx) = Transaction::decode_untrusted(&bytes) {
                prop_assert_eq!(tx.to_bytes(), bytes);
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(tx) = Transaction::decode_untrusted(&bytes) {
                prop_assert_eq!(tx.to_bytes(), bytes);
            }
        }
    }
}
