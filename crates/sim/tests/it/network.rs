//! A small network of every class for a day of hourly epochs.

use trellis_sim::network::{
    population::{Attack, Class},
    report::{markdown, AttackRow},
    run, NetworkConfig,
};

fn config() -> NetworkConfig {
    NetworkConfig {
        seed: 11,
        epochs: 12,
        hotspots: 1_000,
        stations: 500,
        meters: 60,
        storage: 60,
        compute: 40,
        cheater_bps: 300,
        compute_sample_ppm: 200_000,
    }
}

#[test]
fn the_same_seed_gives_the_same_report_bytes_and_another_seed_another() {
    let small = NetworkConfig { epochs: 4, ..config() };
    let a = run(&small, |_| {}).unwrap();
    let b = run(&small, |_| {}).unwrap();
    let (ra, rb) = (markdown(&a, &a.summary()), markdown(&b, &b.summary()));
    assert_eq!(ra, rb);
    assert_eq!(
        trellis_sim::network::report::coverage_svg(&a),
        trellis_sim::network::report::coverage_svg(&b)
    );
    let c = run(&NetworkConfig { seed: 12, ..small }, |_| {}).unwrap();
    assert_ne!(markdown(&c, &c.summary()), ra);
}

#[test]
fn honest_devices_are_not_accused_and_detectable_cheats_earn_at_most_five_percent() {
    let cfg = config();
    let run = run(&cfg, |_| {}).unwrap();
    let s = run.summary();
    let report = markdown(&run, &s);
    // Every class has honest devices that earned, and at most 1 % of their device-epochs
    // carry evidence against them.
    for c in &s.classes {
        assert!(
            c.false_positive_ppm <= 10_000,
            "{:?} false positives {}\n{report}",
            c.class,
            c.false_positive_ppm
        );
        assert!(
            c.honest_mean_paid > 0,
            "{:?} honest devices earned nothing\n{report}",
            c.class
        );
    }
    assert_eq!(
        s.classes.iter().map(|c| c.class).collect::<Vec<_>>(),
        Class::ALL.to_vec()
    );
    let row = |a: Attack| -> &AttackRow { s.attacks.iter().find(|r| r.attack == a).unwrap() };
    // Caught by the verifiers' own checks: the deterministic ones within the epoch they start;
    // the sampled ones (audits of a few chunks, replays of a fifth of the jobs) when a sample
    // first lands on the lie. A data deleter's lucky passes before that are still held when it
    // is convicted, and forfeited (before the hold, seed 3 paid one 18 % of an honest provider).
    for a in [
        Attack::RssiForger,
        Attack::LocationSpoofer,
        Attack::WitnessRing,
        Attack::StuckSensor,
        Attack::CopiedReadings,
        Attack::InflatedMeter,
        Attack::DataDeleter,
        Attack::LazyComputer,
        Attack::FuelInflater,
    ] {
        let r = row(a);
        assert!(
            r.capture_ppm <= 50_000,
            "{} earns {} of honest\n{report}",
            a.name(),
            r.capture_ppm
        );
        assert_eq!(r.never_detected, 0, "{}\n{report}", a.name());
        if !matches!(a, Attack::DataDeleter | Attack::LazyComputer | Attack::FuelInflater) {
            assert_eq!(r.epochs_to_detection, Some(1), "{}\n{report}", a.name());
        }
    }
    // A compute cheat earns pool units only on replayed runs, which are the ones that expose
    // it, so it earns nothing from the pool however late the first replay comes (before the
    // pool counted every run, seed 13 paid a fuel inflater 287 % of an honest provider).
    for a in [Attack::LazyComputer, Attack::FuelInflater] {
        assert_eq!(row(a).capture_ppm, 0, "{}\n{report}", a.name());
    }
    // Fabricated weather is caught by disagreeing with the stations around it; a fabricator with
    // fewer than two neighbours (within three resolution-7 rings) has nobody to disagree with.
    // That is the limit of detection from data alone: the bound allows each isolated
    // fabricator up to twice an honest station's pay (alone in its hex, it earns the whole hex).
    let fabricators: Vec<_> = run
        .population
        .devices
        .iter()
        .filter(|d| d.attack == Some(Attack::FabricatedReadings))
        .collect();
    let honest_cells: Vec<h3o::CellIndex> = run
        .population
        .devices
        .iter()
        .filter(|d| d.class == Class::Weather && d.attack.is_none())
        .map(|d| {
            h3o::CellIndex::try_from(d.asserted_cell)
                .unwrap()
                .parent(h3o::Resolution::Seven)
                .unwrap()
        })
        .collect();
    let isolated = fabricators
        .iter()
        .filter(|f| {
            let hex = h3o::CellIndex::try_from(f.asserted_cell)
                .unwrap()
                .parent(h3o::Resolution::Seven)
                .unwrap();
            honest_cells
                .iter()
                .filter(|c| hex.grid_distance(**c).is_ok_and(|d| d <= 3))
                .count()
                < 2
        })
        .count() as u64;
    let fab = row(Attack::FabricatedReadings);
    assert_eq!(
        fab.never_detected, isolated,
        "exactly the isolated fabricators go unseen\n{report}"
    );
    let bound = 50_000 + 2_000_000 * isolated / fabricators.len() as u64;
    assert!(
        fab.capture_ppm <= bound,
        "fabricated readings {} > {bound}\n{report}",
        fab.capture_ppm
    );
    // The RSSI forger is caught on every witness it sends.
    assert_eq!(row(Attack::RssiForger).detection_ppm, 1_000_000);
    // Sybil identities are located elsewhere once their window holds enough links; until then,
    // and when their links cannot tell, they earn. The report prints the limit: how often a
    // perfect verifier (the true propagation model, the same links less other cheaters', 1 %
    // false alarms on the run's sampled honest hotspots) would still miss them on the readings
    // they drew. Measured on this seed: 3.1 % of honest pay against a limit of 4.2 % (3.7 %
    // expected over fading; 20 % before the fit used faint links, 4.3 % before it profiled
    // each hotspot's bias). The bound: 5 %, or the limit where it is higher
    // (ARCHITECTURE.md, "The location fit", has other seeds).
    let sybil = row(Attack::SybilCluster);
    let limit = sybil.limit_ppm.expect("the simulator computes the Sybil limit");
    assert!((10_000..150_000).contains(&limit), "limit {limit}\n{report}");
    let expected = sybil.expected_limit_ppm.expect("and its expectation");
    assert!(
        (10_000..150_000).contains(&expected),
        "expected limit {expected}\n{report}"
    );
    assert!(
        sybil.capture_ppm <= limit.max(50_000),
        "Sybil capture {} vs limit {limit}\n{report}",
        sybil.capture_ppm
    );
    // The ideal test's threshold is its own 1 % point on honest hotspots: near the χ²(2) one
    // (9.21), on enough of them to mean it.
    let threshold = s.ideal_threshold_milli.expect("honest hotspots are sampled");
    assert!((6_000..14_000).contains(&threshold), "threshold {threshold}\n{report}");
    assert!(s.ideal_honest_samples >= 500, "{}", s.ideal_honest_samples);
    assert_eq!(
        sybil.never_detected, 0,
        "their witnesses of each other are refused: {report}"
    );
    // Only the Sybil row has a limit from the links: the other attacks are caught by checks
    // that do not depend on how much evidence a hotspot's links hold.
    assert!(s
        .attacks
        .iter()
        .filter(|r| r.attack != Attack::SybilCluster)
        .all(|r| r.limit_ppm.is_none() && r.expected_limit_ppm.is_none()));
}
