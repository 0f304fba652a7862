//! Who is on the simulated map: honest devices of every class and the cheaters, placed
//! reproducibly from the seed.

use super::{draw, NetworkConfig};
use trellis_primitives::{AccountAddress, DeviceAddress, Keypair, Location};

/// A device class of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// LoRa hotspot (coverage).
    Hotspot,
    /// Weather station.
    Weather,
    /// Energy meter.
    Energy,
    /// Storage provider.
    Storage,
    /// Compute provider.
    Compute,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 5] = [
        Class::Hotspot,
        Class::Weather,
        Class::Energy,
        Class::Storage,
        Class::Compute,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Hotspot => "hotspot",
            Class::Weather => "weather station",
            Class::Energy => "energy meter",
            Class::Storage => "storage provider",
            Class::Compute => "compute provider",
        }
    }
}

/// How a cheater cheats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attack {
    /// Reports every witness at −30 dBm, as if next to the beaconer.
    RssiForger,
    /// Asserts a location 40 km from where its radio is.
    LocationSpoofer,
    /// Four hotspots of one owner at one place, asserted 1.5–3 km apart, witnessing each other
    /// over an off-band channel with RSSI plausible for the asserted spread.
    SybilCluster,
    /// Three hotspots of different owners 80+ km apart witnessing each other off-band with RSSI
    /// plausible for their asserted distance.
    WitnessRing,
    /// A stuck weather sensor repeating one reading.
    StuckSensor,
    /// Re-signs the nearest honest station's readings a second later.
    CopiedReadings,
    /// Reports the temperature 9 °C off its real place's.
    FabricatedReadings,
    /// Claims 20 kW of production its 5 kW array cannot make.
    InflatedMeter,
    /// Kept 70 % of each piece's chunks and deleted the rest.
    DataDeleter,
    /// Commits outputs it did not compute.
    LazyComputer,
    /// Computes, then claims more fuel than it burned.
    FuelInflater,
}

impl Attack {
    /// Every attack, in report order.
    pub const ALL: [Attack; 11] = [
        Attack::RssiForger,
        Attack::LocationSpoofer,
        Attack::SybilCluster,
        Attack::WitnessRing,
        Attack::StuckSensor,
        Attack::CopiedReadings,
        Attack::FabricatedReadings,
        Attack::InflatedMeter,
        Attack::DataDeleter,
        Attack::LazyComputer,
        Attack::FuelInflater,
    ];

    /// The class that can mount it.
    pub fn class(self) -> Class {
        match self {
            Attack::RssiForger | Attack::LocationSpoofer | Attack::SybilCluster | Attack::WitnessRing => Class::Hotspot,
            Attack::StuckSensor | Attack::CopiedReadings | Attack::FabricatedReadings => Class::Weather,
            Attack::InflatedMeter => Class::Energy,
            Attack::DataDeleter => Class::Storage,
            Attack::LazyComputer | Attack::FuelInflater => Class::Compute,
        }
    }

    /// Devices per group (attacks that need several).
    pub fn group(self) -> u32 {
        match self {
            Attack::SybilCluster => 4,
            Attack::WitnessRing => 3,
            _ => 1,
        }
    }

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Attack::RssiForger => "RSSI forger",
            Attack::LocationSpoofer => "location spoofer",
            Attack::SybilCluster => "Sybil cluster",
            Attack::WitnessRing => "witness ring",
            Attack::StuckSensor => "stuck sensor",
            Attack::CopiedReadings => "copied readings",
            Attack::FabricatedReadings => "fabricated readings",
            Attack::InflatedMeter => "inflated meter",
            Attack::DataDeleter => "data-deleting provider",
            Attack::LazyComputer => "lazy computer",
            Attack::FuelInflater => "fuel inflater",
        }
    }
}

/// One simulated device.
#[derive(Debug)]
pub struct SimDevice {
    /// Its key (storage answers are really signed).
    pub key: Keypair,
    /// Its address.
    pub address: DeviceAddress,
    /// Who is paid.
    pub owner: AccountAddress,
    /// Its class.
    pub class: Class,
    /// Its cheat, if any.
    pub attack: Option<Attack>,
    /// Which group of its attack it belongs to.
    pub group: u32,
    /// Where it really is (lat, lng).
    pub actual: (f64, f64),
    /// Where the chain says it is.
    pub asserted: (f64, f64),
    /// The asserted H3 cell index (resolution 12).
    pub asserted_cell: u64,
}

/// The map and everyone on it.
#[derive(Debug)]
pub struct Population {
    /// Every device; indexes are stable.
    pub devices: Vec<SimDevice>,
    /// The treasury account.
    pub treasury: AccountAddress,
    /// The operations account.
    pub operations: AccountAddress,
    /// South-west corner of the map.
    pub origin: (f64, f64),
    /// Side of the square map, km.
    pub side_km: f64,
}

/// Metres per degree of latitude.
const M_PER_DEG: f64 = 111_320.0;
/// The map's south-west corner: the plains of Kansas (one regulatory region, flat).
const ORIGIN: (f64, f64) = (38.0, -100.0);

fn account(seed: u64, label: &[u8], i: u64) -> AccountAddress {
    let k = trellis_primitives::HashDomain::StateLeaf.hash_parts(&[
        b"sim account",
        &seed.to_le_bytes(),
        label,
        &i.to_le_bytes(),
    ]);
    AccountAddress::from(Keypair::from_seed(k.0).public())
}

/// A point `east_m`, `north_m` from `from`.
pub fn offset(from: (f64, f64), east_m: f64, north_m: f64) -> (f64, f64) {
    let lat = from.0 + north_m / M_PER_DEG;
    (lat, from.1 + east_m / (M_PER_DEG * lat.to_radians().cos()))
}

/// The sphere [`distance_m`] and [`east_north_m`] measure on, metres.
const EARTH_RADIUS_M: f64 = 6_371_000.0;

/// Where `p` is from `from` on the local plane, metres east and north, on the sphere of
/// [`distance_m`] (the distance the simulated air propagates over).
pub fn east_north_m(from: (f64, f64), p: (f64, f64)) -> (f64, f64) {
    (
        (p.1 - from.1).to_radians() * from.0.to_radians().cos() * EARTH_RADIUS_M,
        (p.0 - from.0).to_radians() * EARTH_RADIUS_M,
    )
}

/// Great-circle distance in metres (haversine).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let (dla, dln) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dln / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

impl Population {
    /// Places `config`'s devices: hotspots about 3 km apart, the other classes spread over the
    /// same square, cheaters drawn from each class.
    pub fn generate(config: &NetworkConfig) -> Population {
        let seed = config.seed;
        let side_km = (f64::from(config.hotspots.max(config.stations).max(1)).sqrt() * 3.0).max(90.0);
        let uniform = |labels: &[&[u8]]| (draw(seed, labels) >> 11) as f64 / (1u64 << 53) as f64;
        let place = |class: u8, i: u64| {
            let (x, y) = (
                uniform(&[b"x", &[class], &i.to_le_bytes()]),
                uniform(&[b"y", &[class], &i.to_le_bytes()]),
            );
            offset(ORIGIN, x * side_km * 1_000.0, y * side_km * 1_000.0)
        };
        let mut devices = Vec::new();
        let counts = [
            (Class::Hotspot, config.hotspots),
            (Class::Weather, config.stations),
            (Class::Energy, config.meters),
            (Class::Storage, config.storage),
            (Class::Compute, config.compute),
        ];
        for (c, (class, n)) in counts.iter().enumerate() {
            // Cheaters first in each class, by attack, a group at a time.
            let mut plan: Vec<(Option<Attack>, u32)> = Vec::new();
            if *n > 0 {
                for attack in Attack::ALL.into_iter().filter(|a| a.class() == *class) {
                    let wanted =
                        (u64::from(*n) * u64::from(config.cheater_bps) / 10_000).max(u64::from(attack.group()));
                    let groups = (wanted / u64::from(attack.group())).max(1) as u32;
                    for g in 0..groups {
                        for _ in 0..attack.group() {
                            plan.push((Some(attack), g));
                        }
                    }
                }
            }
            let cheaters = plan.len().min(*n as usize / 2);
            plan.truncate(cheaters);
            plan.resize(*n as usize, (None, 0));
            let mut sybil_site = ORIGIN;
            for (i, (attack, group)) in plan.into_iter().enumerate() {
                let i = i as u64;
                let label = [c as u8];
                let k = trellis_primitives::HashDomain::StateLeaf.hash_parts(&[
                    b"sim device",
                    &seed.to_le_bytes(),
                    &label,
                    &i.to_le_bytes(),
                ]);
                let key = Keypair::from_seed(k.0);
                let mut actual = place(c as u8, i);
                let mut asserted = actual;
                let mut owner = account(seed, b"owner", (c as u64) << 32 | i);
                match attack {
                    Some(Attack::LocationSpoofer) => {
                        asserted = offset(
                            actual,
                            0.0,
                            if actual.0 > ORIGIN.0 + 0.5 { -40_000.0 } else { 40_000.0 },
                        )
                    }
                    Some(Attack::SybilCluster) => {
                        owner = account(seed, b"sybil", u64::from(group));
                        if i.is_multiple_of(4) {
                            sybil_site = actual;
                        }
                        actual = sybil_site;
                        let angle =
                            (i % 4) as f64 * std::f64::consts::FRAC_PI_2 + uniform(&[b"sybil angle", &i.to_le_bytes()]);
                        let r = 1_500.0 + 1_500.0 * uniform(&[b"sybil r", &i.to_le_bytes()]);
                        asserted = offset(actual, r * angle.cos(), r * angle.sin());
                    }
                    Some(Attack::WitnessRing) => {
                        // Boxes beyond the map's west edge, 40 km from each other and from every
                        // other ring, out of radio range of anyone: whatever they earn, the ring
                        // made up.
                        let spot = offset(
                            ORIGIN,
                            -40_000.0 - 40_000.0 * (i % 3) as f64,
                            40_000.0 * f64::from(group),
                        );
                        actual = spot;
                        asserted = spot;
                    }
                    _ => {}
                }
                let asserted_cell = Location::from_degrees(asserted.0, asserted.1)
                    .map(|l| l.index())
                    .unwrap_or(0);
                devices.push(SimDevice {
                    address: DeviceAddress::from(key.public()),
                    key,
                    owner,
                    class: *class,
                    attack,
                    group,
                    actual,
                    asserted,
                    asserted_cell,
                });
            }
        }
        Population {
            devices,
            treasury: account(seed, b"treasury", 0),
            operations: account(seed, b"operations", 0),
            origin: ORIGIN,
            side_km,
        }
    }

    /// Indexes of the devices of `class`.
    pub fn of(&self, class: Class) -> impl Iterator<Item = usize> + '_ {
        self.devices
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.class == class)
            .map(|(i, _)| i)
    }
}
