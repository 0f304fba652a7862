//! The consumer's and verifier's side of blob transfer: uploads to an assigned provider,
//! downloads checked against their content address, run records checked against the chain.

use crate::{
    blobs::RunRecord,
    commitment::{blob_hash, commitment_parts, outcome_hash},
    limits::{MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES},
};
use std::time::Duration;
use trellis_ledger::tx::JobSpec;
use trellis_primitives::Hash;

/// Longest one transfer may take (16 MiB at ~1 MiB/s).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The provider could not be reached, or refused.
    #[error("provider {url}: {message}")]
    Provider {
        /// What was asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The provider sent bytes that are not what was asked for.
    #[error("provider {url} sent bytes that do not match: {why}")]
    Corrupt {
        /// What was asked.
        url: String,
        /// Why they do not match.
        why: String,
    },
}

/// An HTTP client for provider calls.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TRANSFER_TIMEOUT)
        .build()
        .unwrap_or_default()
}

fn provider_error(url: &str, e: impl std::fmt::Display) -> TransferError {
    TransferError::Provider {
        url: url.to_string(),
        message: e.to_string(),
    }
}

/// Uploads a job's blob to a provider assigned to it.
pub async fn upload_blob(
    http: &reqwest::Client,
    endpoint: &str,
    job: &Hash,
    bytes: &[u8],
) -> Result<(), TransferError> {
    let url = format!(
        "{}/v1/jobs/{job}/blobs/{}",
        endpoint.trim_end_matches('/'),
        blob_hash(bytes)
    );
    let response = http
        .put(&url)
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| provider_error(&url, e))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(provider_error(&url, format!("HTTP {status}: {text}")));
    }
    Ok(())
}

/// Downloads blob `hash` (at most `max` bytes) and checks it hashes to its address.
pub async fn fetch_blob(
    http: &reqwest::Client,
    endpoint: &str,
    hash: &Hash,
    max: usize,
) -> Result<Vec<u8>, TransferError> {
    let url = format!("{}/v1/blobs/{hash}", endpoint.trim_end_matches('/'));
    let response = http.get(&url).send().await.map_err(|e| provider_error(&url, e))?;
    if !response.status().is_success() {
        return Err(provider_error(&url, format!("HTTP {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(TransferError::Corrupt {
            url,
            why: format!("more than {max} bytes"),
        });
    }
    let bytes = response.bytes().await.map_err(|e| provider_error(&url, e))?;
    if bytes.len() > max {
        return Err(TransferError::Corrupt {
            url,
            why: format!("more than {max} bytes"),
        });
    }
    if &blob_hash(&bytes) != hash {
        return Err(TransferError::Corrupt {
            url,
            why: format!("they hash to {}, not {hash}", blob_hash(&bytes)),
        });
    }
    Ok(bytes.to_vec())
}

/// The job's module and input from a provider that holds them.
pub async fn fetch_job_blobs(
    http: &reqwest::Client,
    endpoint: &str,
    spec: &JobSpec,
) -> Result<(Vec<u8>, Vec<u8>), TransferError> {
    let module = fetch_blob(http, endpoint, &spec.module, MAX_MODULE_BYTES).await?;
    let input = fetch_blob(http, endpoint, &spec.input, MAX_INPUT_BYTES).await?;
    Ok((module, input))
}

/// A provider's record of `job`, checked against the commitment the chain settled on.
pub async fn fetch_result(
    http: &reqwest::Client,
    endpoint: &str,
    job: &Hash,
    spec: &JobSpec,
    settled: &Hash,
) -> Result<RunRecord, TransferError> {
    let url = format!("{}/v1/jobs/{job}/result", endpoint.trim_end_matches('/'));
    let response = http.get(&url).send().await.map_err(|e| provider_error(&url, e))?;
    if !response.status().is_success() {
        return Err(provider_error(&url, format!("HTTP {}", response.status())));
    }
    let bytes = response.bytes().await.map_err(|e| provider_error(&url, e))?;
    // Hex doubles the output; the record adds a few hundred bytes.
    if bytes.len() > 2 * MAX_OUTPUT_BYTES + 4096 {
        return Err(TransferError::Corrupt {
            url,
            why: "the record is too large".into(),
        });
    }
    let record: RunRecord = serde_json::from_slice(&bytes).map_err(|e| TransferError::Corrupt {
        url: url.clone(),
        why: e.to_string(),
    })?;
    let recomputed = commitment_parts(
        &spec.module,
        &spec.entry,
        &spec.input,
        &outcome_hash(&record.outcome),
        record.fuel_used,
    );
    if &recomputed != settled {
        return Err(TransferError::Corrupt {
            url,
            why: format!("the outcome commits to {recomputed}, the chain settled {settled}"),
        });
    }
    Ok(record)
}
