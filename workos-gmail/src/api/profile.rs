//! `users.getProfile`: the mailbox's address, totals and current history id.

use serde::Deserialize;
use workos_core::Result;

use super::GmailApi;
use super::request::json;
use super::usage::Method;

/// `users.getProfile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Profile {
    /// The mailbox's address.
    pub email_address: String,
    /// Messages in the mailbox.
    #[serde(default)]
    pub messages_total: u64,
    /// Threads in the mailbox.
    #[serde(default)]
    pub threads_total: u64,
    /// The mailbox's current history id.
    pub history_id: String,
}

impl GmailApi {
    /// `users.getProfile`.
    ///
    /// # Errors
    /// As the [module](super) says.
    pub async fn profile(&self, token: &str) -> Result<Profile> {
        let response = self
            .get(Method::Profile, token, &self.url("profile"), &[])
            .await?;
        json(response).await
    }
}
