//! `users.messages.attachments.get` read as a stream: Gmail answers
//! `{"size": N, "data": "<base64url>"}` (an `attachmentId` may come along), and the attachment
//! is decoded as the answer arrives, so memory stays bounded by one network chunk whatever the
//! attachment's size ([`DataDecoder`], [`GmailApi::attachment_body`]).

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use futures_util::stream::{self, BoxStream, StreamExt as _};
use workos_core::{Error, Result};

use super::encoding::path_segment;
use super::errors::provider_error;
use super::{GmailApi, Method};

/// Base64url without padding inside the groups decoded as they come (padding, if any, is
/// checked by [`DataDecoder`] itself).
const URL_SAFE_GROUPS: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How long one attachment download may take, its body included (instead of the HTTP client's
/// timeout, 30 s by default): the body is read as the engine's own client reads the file, so
/// a slow client makes a slow read, and memory stays bounded however long it takes.
pub const ATTACHMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The longest key of Gmail's answer read (`attachmentId`, `size`, `data`).
const MAX_KEY: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    BeforeKey,
    Key,
    AfterKey,
    BeforeValue,
    SkipString,
    SkipEscape,
    SkipScalar,
    Data,
    AfterValue,
    End,
}

/// Finds the top-level `"data"` string of a `MessagePartBody` as its bytes arrive and decodes
/// it from base64url. Chunk boundaries may fall anywhere (inside a key, inside a base64
/// group). Anything but base64url inside `data` (a JSON escape, a space) is refused, as is
/// an answer that is not one JSON object with exactly one `data` string.
#[derive(Debug)]
pub struct DataDecoder {
    state: State,
    key: Vec<u8>,
    /// Base64url characters not yet decoded (fewer than 4).
    carry: Vec<u8>,
    padding: usize,
    seen_data: bool,
    decoded: u64,
}

impl Default for DataDecoder {
    fn default() -> Self {
        Self::new()
    }
}

fn bad(message: &str) -> Error {
    provider_error(
        None,
        Some("bad_response"),
        format!("unreadable attachment from Gmail: {message}"),
    )
}

const fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl DataDecoder {
    /// A decoder at the start of an answer.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: State::Start,
            key: Vec::with_capacity(MAX_KEY),
            carry: Vec::with_capacity(4),
            padding: 0,
            seen_data: false,
            decoded: 0,
        }
    }

    /// The bytes decoded so far.
    #[must_use]
    pub const fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Reads the next `chunk` of the answer and returns the bytes it decoded.
    ///
    /// # Errors
    /// [`Error::Provider`] (code `bad_response`) when the answer is not what Gmail sends.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(chunk.len() / 4 * 3 + 3);
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            if self.state == State::Data && is_base64url(b) {
                // The whole run of base64url characters at once.
                let run = chunk[i..].iter().position(|c| !is_base64url(*c));
                let end = run.map_or(chunk.len(), |n| i + n);
                if self.padding > 0 {
                    return Err(bad("characters after the base64 padding"));
                }
                self.decode_run(&chunk[i..end], &mut out)?;
                i = end;
                continue;
            }
            self.step(b, &mut out)?;
            i += 1;
        }
        self.decoded += out.len() as u64;
        Ok(out)
    }

    /// Checks the answer ended where a whole object does.
    ///
    /// # Errors
    /// [`Error::Provider`] when the answer was cut short or carried no `data`.
    pub fn finish(&self) -> Result<()> {
        match (self.state, self.seen_data) {
            (State::End, true) => Ok(()),
            (State::End, false) => Err(bad("no data in the answer")),
            _ => Err(bad("the answer was cut short")),
        }
    }

    fn decode_run(&mut self, run: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let total = self.carry.len() + run.len();
        let whole = total / 4 * 4;
        if whole == 0 {
            self.carry.extend_from_slice(run);
            return Ok(());
        }
        let from_run = whole - self.carry.len();
        let mut group = std::mem::take(&mut self.carry);
        group.extend_from_slice(&run[..from_run]);
        URL_SAFE_GROUPS
            .decode_vec(&group, out)
            .map_err(|e| bad(&format!("data is not base64url: {e}")))?;
        group.clear();
        group.extend_from_slice(&run[from_run..]);
        self.carry = group;
        Ok(())
    }

    fn end_data(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let rest = self.carry.len();
        if rest == 1 || (self.padding > 0 && !(rest + self.padding).is_multiple_of(4)) {
            return Err(bad("data is not base64url: a partial group"));
        }
        if rest > 0 {
            URL_SAFE_GROUPS
                .decode_vec(&self.carry, out)
                .map_err(|e| bad(&format!("data is not base64url: {e}")))?;
        }
        self.carry.clear();
        Ok(())
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) -> Result<()> {
        let ws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        self.state = match (self.state, b) {
            (State::Start | State::BeforeKey | State::AfterKey | State::BeforeValue, _)
            | (State::AfterValue | State::End, _)
                if ws =>
            {
                self.state
            }
            (State::Start, b'{') => State::BeforeKey,
            (State::BeforeKey, b'"') => {
                self.key.clear();
                State::Key
            }
            (State::BeforeKey, b'}') => State::End,
            (State::Key, b'"') => State::AfterKey,
            (State::Key, b'\\') => return Err(bad("an escaped key")),
            (State::Key, _) if self.key.len() < MAX_KEY => {
                self.key.push(b);
                State::Key
            }
            (State::AfterKey, b':') => State::BeforeValue,
            (State::BeforeValue, b'"') if self.key == b"data" => {
                if self.seen_data {
                    return Err(bad("two data fields"));
                }
                self.seen_data = true;
                State::Data
            }
            (State::BeforeValue, b'"') => State::SkipString,
            (State::BeforeValue, b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
                if self.key != b"data" =>
            {
                State::SkipScalar
            }
            (State::SkipString, b'\\') => State::SkipEscape,
            (State::SkipString, b'"') => State::AfterValue,
            (State::SkipString, _) | (State::SkipEscape, _) => State::SkipString,
            (State::SkipScalar, b',') => State::BeforeKey,
            (State::SkipScalar, b'}') => State::End,
            (State::SkipScalar, _) if ws => State::AfterValue,
            (State::SkipScalar, _) if b.is_ascii_alphanumeric() || b"+-.".contains(&b) => {
                State::SkipScalar
            }
            (State::Data, b'=') if self.padding < 2 => {
                self.padding += 1;
                State::Data
            }
            (State::Data, b'"') => {
                self.end_data(out)?;
                State::AfterValue
            }
            (State::Data, b'\\') => return Err(bad("a JSON escape in data")),
            (State::Data, _) => return Err(bad("data is not base64url")),
            (State::AfterValue, b',') => State::BeforeKey,
            (State::AfterValue, b'}') => State::End,
            _ => return Err(bad("not the JSON object Gmail sends")),
        };
        Ok(())
    }
}

impl GmailApi {
    /// `users.messages.attachments.get` of message `id`, decoded as it arrives: the stream
    /// yields the attachment's bytes chunk by chunk and fails (ending the stream) when the
    /// answer is not Gmail's, breaks off, exceeds `limit` decoded bytes, or (with `exact`)
    /// comes to another size than `exact`. The call is retried like every read until its
    /// answer starts; never once bytes flowed. The whole exchange may take
    /// [`ATTACHMENT_TIMEOUT`].
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `attachment`) when Gmail has no such attachment; otherwise as
    /// the [module](super) says.
    pub async fn attachment_body(
        &self,
        token: &str,
        id: &str,
        attachment_id: &str,
        limit: u64,
        exact: Option<u64>,
    ) -> Result<BoxStream<'static, Result<Vec<u8>>>> {
        let url = self.url(&format!(
            "messages/{}/attachments/{}",
            path_segment(id),
            path_segment(attachment_id)
        ));
        let response = self
            .get_within(
                Method::AttachmentsGet,
                token,
                &url,
                &[],
                Some(ATTACHMENT_TIMEOUT),
            )
            .await
            .map_err(super::media::gone("attachment"))?;
        Ok(decode_stream(
            response,
            exact.map_or(limit, |e| e.min(limit)),
            exact,
        ))
    }
}

/// The decoded bytes of `response`'s `data`, chunk by chunk; an error ends the stream.
fn decode_stream(
    response: reqwest::Response,
    limit: u64,
    exact: Option<u64>,
) -> BoxStream<'static, Result<Vec<u8>>> {
    let state = Some((response, DataDecoder::new()));
    stream::unfold(state, move |state| async move {
        let (mut response, mut decoder) = state?;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    let short = exact.filter(|n| *n != decoder.decoded()).map(|n| {
                        bad(&format!(
                            "{} bytes came of an attachment of {n}",
                            decoder.decoded()
                        ))
                    });
                    return match decoder.finish().and(short.map_or(Ok(()), Err)) {
                        Ok(()) => None,
                        Err(e) => Some((Err(e), None)),
                    };
                }
                Err(e) => {
                    let e = Error::unavailable("reading the attachment from Gmail", e);
                    return Some((Err(e), None));
                }
            };
            match decoder.feed(&chunk) {
                Ok(bytes) if decoder.decoded() > limit => {
                    drop(bytes);
                    let e = bad(&format!("the attachment is over {limit} bytes"));
                    return Some((Err(e), None));
                }
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => return Some((Ok(bytes), Some((response, decoder)))),
                Err(e) => return Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

    use super::*;

    fn decode_in(answer: &[u8], chunk: usize) -> Result<Vec<u8>> {
        let mut d = DataDecoder::new();
        let mut out = Vec::new();
        for c in answer.chunks(chunk.max(1)) {
            out.extend(d.feed(c)?);
        }
        d.finish()?;
        assert_eq!(d.decoded(), out.len() as u64);
        Ok(out)
    }

    #[test]
    fn decodes_across_every_chunk_boundary() {
        for len in [0usize, 1, 2, 3, 4, 5, 100, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
            for encoded in [URL_SAFE.encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes)] {
                let answers = [
                    format!(r#"{{"size": {len}, "data": "{encoded}"}}"#),
                    format!(
                        "{{\n  \"attachmentId\": \"ANGj\\\"x\",\n  \"size\": {len},\n  \"data\": \"{encoded}\"\n}}\n"
                    ),
                    format!(r#"{{"data":"{encoded}","size":{len}}}"#),
                ];
                for answer in answers {
                    for chunk in [1, 2, 3, 5, 7, 64, 4096] {
                        assert_eq!(
                            decode_in(answer.as_bytes(), chunk).unwrap(),
                            bytes,
                            "{answer} in chunks of {chunk}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_what_gmail_never_sends() {
        let bad_answers = [
            r#"{"size": 3, "data": "YW Jj"}"#,
            r#"{"size": 3, "data": "YWJj\u0041"}"#,
            r#"{"size": 3, "data": "YW+j"}"#,
            r#"{"size": 3, "data": "YWJjZ"}"#,
            r#"{"size": 3, "data": "YQ=a"}"#,
            r#"{"size": 3, "data": "YWJj"#,
            r#"{"size": 3}"#,
            r#"{"data": "YQ", "data": "YQ"}"#,
            r#"{"data": 12}"#,
            r#"{"size": {"n": 1}, "data": "YQ"}"#,
            r#"["YQ"]"#,
            r#"{"data": "YQ"} trailing"#,
            "",
        ];
        for answer in bad_answers {
            for chunk in [1, 3, 4096] {
                let err = decode_in(answer.as_bytes(), chunk).unwrap_err();
                assert!(
                    matches!(err, Error::Provider { code: Some(ref c), .. } if c == "bad_response"),
                    "{answer}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn bytes_come_out_as_they_arrive() {
        let bytes = vec![7u8; 3000];
        let answer = format!(r#"{{"size":3000,"data":"{}"}}"#, URL_SAFE.encode(&bytes));
        let mut d = DataDecoder::new();
        let first = d.feed(&answer.as_bytes()[..1000]).unwrap();
        assert!(first.len() > 700, "{}", first.len());
        assert_eq!(first, bytes[..first.len()]);
    }
}
