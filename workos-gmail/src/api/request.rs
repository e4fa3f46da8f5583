//! One request to the API: what it came to ([`Attempt`]), and the JSON it answered.

use serde::de::DeserializeOwned;
use workos_core::{Error, Result};

use super::errors::{failure, provider_error};

/// What one attempt came to.
pub(crate) enum Attempt {
    Ok(reqwest::Response),
    Failed { error: Error, transient: bool },
}

pub(crate) async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::unavailable("reading Gmail's answer", e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        provider_error(
            None,
            Some("bad_response"),
            format!("unreadable Gmail answer: {e}"),
        )
    })
}

pub(crate) async fn attempt(request: reqwest::RequestBuilder) -> Attempt {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Failed {
                error: Error::unavailable("Gmail API", e),
                transient: true,
            };
        }
    };
    if response.status().is_success() {
        return Attempt::Ok(response);
    }
    let (error, transient) = failure(response).await;
    Attempt::Failed { error, transient }
}
