//! `trellis wallet`: keys in encrypted key files, and the transactions a user signs.

use crate::{client::Client, keystore::Keystore};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::{path::PathBuf, time::Duration};
use trellis_ledger::TxKind;
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Hash, Keypair};
use zeroize::Zeroizing;

/// Wallet commands.
#[derive(Debug, Subcommand)]
pub(crate) enum WalletCommand {
    /// Create a new key and write it encrypted to a key file.
    ///
    /// Example: TRELLIS_PASSPHRASE=... trellis wallet new --keystore alice.json
    New(KeystoreArg),
    /// Import an existing 32-byte seed (hex, from a file or `-` for stdin) into a key file.
    ///
    /// Example: trellis wallet import --keystore alice.json --seed-file seed.hex
    Import {
        #[command(flatten)]
        keystore: KeystoreArg,
        /// File holding the seed as 64 hex digits; `-` reads stdin.
        #[arg(long)]
        seed_file: PathBuf,
    },
    /// Print the address and, if the node is reachable, the account.
    ///
    /// Example: trellis wallet show --keystore alice.json
    Show {
        #[command(flatten)]
        keystore: KeystoreArg,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Send TRL.
    ///
    /// Example: trellis wallet transfer --keystore alice.json --to tr1... --amount 12.5
    Transfer {
        #[command(flatten)]
        tx: TxArgs,
        /// Recipient address (tr1…).
        #[arg(long)]
        to: AccountAddress,
        /// Amount in TRL (up to 8 decimals).
        #[arg(long)]
        amount: Amount,
    },
    /// Burn TRL for credits at the current oracle price.
    ///
    /// Example: trellis wallet burn --keystore alice.json --amount 3
    Burn {
        #[command(flatten)]
        tx: TxArgs,
        /// Amount of TRL to burn.
        #[arg(long)]
        amount: Amount,
        /// Who gets the credits (default: yourself).
        #[arg(long)]
        beneficiary: Option<AccountAddress>,
    },
    /// Lock TRL as collateral against a device you own.
    ///
    /// Example: trellis wallet stake --keystore op.json --device trd1... --amount 100
    Stake {
        #[command(flatten)]
        tx: TxArgs,
        /// Device address (trd1…).
        #[arg(long)]
        device: DeviceAddress,
        /// Amount of TRL.
        #[arg(long)]
        amount: Amount,
    },
    /// Start unbonding collateral from a device.
    Unstake {
        #[command(flatten)]
        tx: TxArgs,
        /// Device address (trd1…).
        #[arg(long)]
        device: DeviceAddress,
        /// Amount of TRL.
        #[arg(long)]
        amount: Amount,
    },
    /// Withdraw every unbonding entry that has matured.
    Withdraw {
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Publish the URL a device you own serves clients at (storage and compute providers); an
    /// empty URL removes it.
    ///
    /// Example: trellis wallet endpoint --keystore op.json --device trd1... --url http://203.0.113.7:8650
    Endpoint {
        #[command(flatten)]
        tx: TxArgs,
        /// Device address (trd1…).
        #[arg(long)]
        device: DeviceAddress,
        /// `http://` or `https://` URL, at most 200 bytes.
        #[arg(long)]
        url: String,
    },
}

/// Which key file.
#[derive(Debug, Args)]
pub(crate) struct KeystoreArg {
    /// Path of the key file.
    #[arg(long, env = "TRELLIS_KEYSTORE")]
    pub(crate) keystore: PathBuf,
}

/// Which node.
#[derive(Debug, Args)]
pub(crate) struct ApiArg {
    /// Node API URL.
    #[arg(long, env = "TRELLIS_API", default_value = "http://127.0.0.1:8645")]
    pub(crate) api: String,
}

/// Options shared by every transaction.
#[derive(Debug, Args)]
pub(crate) struct TxArgs {
    #[command(flatten)]
    pub(crate) keystore: KeystoreArg,
    #[command(flatten)]
    pub(crate) api: ApiArg,
    /// Fee in TRL (default: the chain's minimum fee).
    #[arg(long)]
    fee: Option<Amount>,
    /// Return after submission instead of waiting for the block.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for the transaction to be final.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

/// Reads the passphrase: `TRELLIS_PASSPHRASE`, else a prompt on the terminal.
fn passphrase(prompt: &str, confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("TRELLIS_PASSPHRASE") {
        return Ok(Zeroizing::new(p));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password(prompt)
            .context("cannot read passphrase (set TRELLIS_PASSPHRASE when not on a terminal)")?,
    );
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *first != *again {
            bail!("passphrases do not match");
        }
    }
    Ok(first)
}

pub(crate) fn unlock(arg: &KeystoreArg) -> Result<Keypair> {
    let ks = Keystore::read(&arg.keystore)?;
    ks.open(&passphrase(&format!("Passphrase for {}: ", ks.address), false)?)
}

/// Runs a wallet command.
pub(crate) async fn run(command: WalletCommand) -> Result<()> {
    match command {
        WalletCommand::New(arg) => {
            let key = Keypair::generate(&mut rand::rngs::OsRng);
            let ks = Keystore::seal(&key, &passphrase("New passphrase: ", true)?)?;
            ks.write_new(&arg.keystore)?;
            println!("{}", ks.address);
            eprintln!("key written to {}", arg.keystore.display());
        }
        WalletCommand::Import { keystore, seed_file } => {
            let text = Zeroizing::new(if seed_file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read seed from stdin")?
            } else {
                std::fs::read_to_string(&seed_file).with_context(|| format!("cannot read {}", seed_file.display()))?
            });
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(text.trim(), seed.as_mut()).context("the seed must be exactly 64 hex digits")?;
            let key = Keypair::from_seed(*seed);
            let ks = Keystore::seal(&key, &passphrase("New passphrase: ", true)?)?;
            ks.write_new(&keystore.keystore)?;
            println!("{}", ks.address);
        }
        WalletCommand::Show { keystore, api } => {
            let ks = Keystore::read(&keystore.keystore)?;
            println!("address: {}", ks.address);
            match Client::new(&api.api)?
                .get(&format!("/v1/accounts/{}", ks.address))
                .await
            {
                Ok(v) => println!("{}", serde_json::to_string_pretty(&v["account"])?),
                Err(e) => eprintln!("(account not shown: {e:#})"),
            }
        }
        WalletCommand::Transfer { tx, to, amount } => send(tx, TxKind::Transfer { to, amount }).await?,
        WalletCommand::Burn {
            tx,
            amount,
            beneficiary,
        } => {
            let beneficiary = match beneficiary {
                Some(b) => b,
                None => Keystore::read(&tx.keystore.keystore)?.address,
            };
            send(tx, TxKind::BurnForCredits { amount, beneficiary }).await?
        }
        WalletCommand::Stake { tx, device, amount } => send(tx, TxKind::Stake { device, amount }).await?,
        WalletCommand::Unstake { tx, device, amount } => send(tx, TxKind::Unstake { device, amount }).await?,
        WalletCommand::Withdraw { tx } => send(tx, TxKind::WithdrawUnbonded).await?,
        WalletCommand::Endpoint { tx, device, url } => send(tx, TxKind::SetEndpoint { device, url }).await?,
    }
    Ok(())
}

pub(crate) async fn send(args: TxArgs, kind: TxKind) -> Result<()> {
    let key = unlock(&args.keystore)?;
    let client = Client::new(&args.api.api)?;
    let id: Hash = client.sign_and_submit(&key, kind, args.fee).await?;
    if args.no_wait {
        println!("{id}");
        return Ok(());
    }
    let height = wait_success(&client, &id, Duration::from_secs(args.wait_secs)).await?;
    println!("{id} committed in block {height}");
    Ok(())
}

/// Waits up to a minute for `id` to commit successfully.
pub(crate) async fn expect_success(client: &Client, id: &Hash) -> Result<u64> {
    wait_success(client, id, Duration::from_secs(60)).await
}

/// Waits for `id` to commit successfully; its block height.
async fn wait_success(client: &Client, id: &Hash, wait: Duration) -> Result<u64> {
    let status = client.wait(id, wait).await?;
    match (status["status"].as_str(), status["receipt"]["status"].as_str()) {
        (Some("committed"), Some("success")) => Ok(status["height"].as_u64().unwrap_or(0)),
        (Some("committed"), _) => bail!(
            "{id} was included in block {} but failed ({}): {}; only the fee was charged",
            status["height"],
            status["receipt"]["code"].as_str().unwrap_or("?"),
            status["receipt"]["message"].as_str().unwrap_or("")
        ),
        _ => bail!(
            "{id} was rejected ({}): {}",
            status["code"].as_str().unwrap_or("?"),
            status["message"].as_str().unwrap_or("")
        ),
    }
}
