//! The fake's HTTP server: which [`Route`] a request is, its scripted fault, the bearer-token
//! check of the Gmail routes, and the handler that answers it.

use super::*;

/// The fake's routes, for scripting and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `GET /o/oauth2/v2/auth`.
    Authorize,
    /// `POST /token`.
    Token,
    /// `POST /revoke`.
    Revoke,
    /// `GET /gmail/v1/users/me/profile`.
    Profile,
    /// `GET /gmail/v1/users/me/messages`.
    MessagesList,
    /// `GET /gmail/v1/users/me/messages/{id}`.
    MessagesGet,
    /// `GET /gmail/v1/users/me/history`.
    History,
    /// `POST /gmail/v1/users/me/messages/send`.
    Send,
    /// `POST /gmail/v1/users/me/watch`.
    Watch,
    /// `POST /gmail/v1/users/me/stop`.
    Stop,
    /// `GET /oauth2/v3/certs` (Google's OIDC signing keys).
    Jwks,
    /// `GET /gmail/v1/users/me/messages/{id}/attachments/{attachmentId}`.
    AttachmentsGet,
    /// `POST /upload/gmail/v1/users/me/messages/send` (`uploadType=multipart`, `media`, or
    /// `resumable`: opening a session).
    UploadSend,
    /// `PUT` to a resumable upload's session URI (a chunk or a status query).
    UploadChunk,
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = route_of(&method, uri.path()) else {
        return not_found();
    };
    let fault = {
        let mut m = shared.lock();
        *m.calls.entry(route).or_default() += 1;
        m.faults.get_mut(&route).and_then(VecDeque::pop_front)
    };
    if let Some(fault) = &fault {
        if let Some(response) = fault_response(fault) {
            return response;
        }
        if let Fault::Delay(d) = fault {
            tokio::time::sleep(*d).await;
        }
    }
    let query = query_pairs(&uri);
    let mut m = shared.lock();
    match route {
        Route::Authorize => authorize(&mut m, &query),
        // The session URI is the credential, as at Google.
        Route::UploadChunk => resumable::put(
            &mut m,
            &headers,
            &query,
            &body,
            fault == Some(Fault::Interrupt),
        ),
        Route::Token => token(&mut m, &headers, &body),
        Route::Revoke => revoke(&mut m, &body),
        Route::Jwks => pubsub::jwks(),
        _ => {
            if !authorized(&m, &headers) {
                return unauthorized();
            }
            match route {
                Route::Profile => profile(&m),
                Route::MessagesList => list_messages(&m, &query),
                Route::MessagesGet => {
                    let id = uri.path().rsplit('/').next().unwrap_or("");
                    get_message(&m, id, &query)
                }
                Route::History => list_history(&m, &query),
                Route::Watch => pubsub::watch(&mut m, &body),
                Route::Stop => pubsub::stop(&mut m),
                Route::AttachmentsGet => attachments::get_attachment(&mut m, uri.path()),
                Route::UploadSend if first(&query, "uploadType") == Some("resumable") => {
                    resumable::start(&mut m, &headers, &body)
                }
                Route::UploadSend => attachments::upload_send(&mut m, &headers, &query, &body),
                _ => send(&mut m, &body),
            }
        }
    }
}

fn authorized(m: &Mailbox, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    m.access_tokens
        .get(token.trim())
        .is_some_and(|t| !t.revoked && t.expires_at > Utc::now())
}
