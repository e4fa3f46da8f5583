//! Standard Webhooks signing and verification, against the published test vectors.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use workos_webhooks::signing::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningError, TOLERANCE_SECS, VerifyError,
    WebhookHeaders, WebhookSecret, sign, signature_header, unix_now, verify, verify_now,
};

/// One published Standard Webhooks test vector.
struct Vector {
    secret: &'static str,
    msg_id: &'static str,
    timestamp: i64,
    payload: &'static str,
    signature: &'static str,
    must_fail: &'static str,
}

const VECTORS: [Vector; 2] = [
    Vector {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp: 1_614_265_330,
        payload: "{\"test\": 2432232314}",
        signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        must_fail: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
    },
    Vector {
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        msg_id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        timestamp: 1_649_367_553,
        payload: "{\"email\":\"test@example.com\",\"username\":\"test_user\"}",
        signature: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        must_fail: "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
    },
];

impl Vector {
    fn secret(&self) -> WebhookSecret {
        WebhookSecret::parse(self.secret).expect("test vector secret parses")
    }

    fn ts(&self) -> String {
        self.timestamp.to_string()
    }

    /// Verifies `header` over this vector's id, timestamp and payload at time `now`.
    fn verify_header(&self, header: &str, now: i64) -> Result<(), VerifyError> {
        verify(
            &self.secret(),
            self.msg_id,
            &self.ts(),
            header,
            self.payload.as_bytes(),
            now,
        )
    }

    /// The base64 part of the good signature.
    fn good_b64(&self) -> &'static str {
        self.signature.strip_prefix("v1,").unwrap()
    }
}

#[test]
fn sign_reproduces_vectors() {
    for v in &VECTORS {
        assert_eq!(
            sign(&v.secret(), v.msg_id, v.timestamp, v.payload.as_bytes()),
            v.signature,
            "{}",
            v.msg_id
        );
    }
}

#[test]
fn verify_accepts_vectors() {
    for v in &VECTORS {
        assert_eq!(
            v.verify_header(v.signature, v.timestamp),
            Ok(()),
            "{}",
            v.msg_id
        );
    }
}

#[test]
fn verify_rejects_must_fail_signatures() {
    for v in &VECTORS {
        assert_eq!(
            v.verify_header(v.must_fail, v.timestamp),
            Err(VerifyError::NoMatchingSignature),
            "{}",
            v.msg_id
        );
    }
}

#[test]
fn verify_rejects_tampered_payload_id_and_timestamp() {
    for v in &VECTORS {
        let secret = v.secret();
        let ts = v.ts();
        let mut payload = v.payload.as_bytes().to_vec();
        payload.push(b' ');
        assert_eq!(
            verify(&secret, v.msg_id, &ts, v.signature, &payload, v.timestamp),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_id = format!("{}x", v.msg_id);
        assert_eq!(
            verify(
                &secret,
                &other_id,
                &ts,
                v.signature,
                v.payload.as_bytes(),
                v.timestamp
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_ts = (v.timestamp + 1).to_string();
        assert_eq!(
            verify(
                &secret,
                v.msg_id,
                &other_ts,
                v.signature,
                v.payload.as_bytes(),
                v.timestamp
            ),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}

#[test]
fn verify_rejects_wrong_secret() {
    let v = &VECTORS[0];
    let other = VECTORS[1].secret();
    assert_eq!(
        verify(
            &other,
            v.msg_id,
            &v.ts(),
            v.signature,
            v.payload.as_bytes(),
            v.timestamp
        ),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn verify_enforces_timestamp_tolerance() {
    for v in &VECTORS {
        let ts = v.timestamp;
        assert_eq!(
            v.verify_header(v.signature, ts + TOLERANCE_SECS + 1),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            v.verify_header(v.signature, ts - TOLERANCE_SECS - 1),
            Err(VerifyError::TimestampTooNew)
        );
        for now in [ts + TOLERANCE_SECS, ts - TOLERANCE_SECS, ts + 1, ts - 1] {
            assert_eq!(v.verify_header(v.signature, now), Ok(()), "now = {now}");
        }
    }
}

#[test]
fn verify_checks_timestamp_even_with_bad_signature() {
    let v = &VECTORS[0];
    assert_eq!(
        v.verify_header(v.must_fail, v.timestamp + 301),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn verify_survives_extreme_clock_values() {
    let v = &VECTORS[0];
    assert_eq!(
        v.verify_header(v.signature, i64::MIN),
        Err(VerifyError::TimestampTooNew)
    );
    assert_eq!(
        v.verify_header(v.signature, i64::MAX),
        Err(VerifyError::TimestampTooOld)
    );
    let secret = v.secret();
    let min = i64::MIN.to_string();
    assert_eq!(
        verify(&secret, v.msg_id, &min, v.signature, b"", i64::MAX),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn verify_accepts_any_matching_v1_entry() {
    for v in &VECTORS {
        let ts = v.timestamp;
        for header in [
            format!("v1,bad {}", v.signature),
            format!("v2,xxx {}", v.signature),
            format!("{} {}", v.must_fail, v.signature),
            format!("{} {}", v.signature, v.must_fail),
            format!("garbage {}", v.signature),
            format!("  {}  ", v.signature),
        ] {
            assert_eq!(v.verify_header(&header, ts), Ok(()), "{header:?}");
        }
    }
}

#[test]
fn verify_ignores_other_versions() {
    for v in &VECTORS {
        let header = format!("v2,{}", v.good_b64());
        assert_eq!(
            v.verify_header(&header, v.timestamp),
            Err(VerifyError::NoMatchingSignature)
        );
        let header = format!("v1a,{} V1,{}", v.good_b64(), v.good_b64());
        assert_eq!(
            v.verify_header(&header, v.timestamp),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}

#[test]
fn verify_requires_canonical_signature_base64() {
    // A 32-byte MAC always encodes with one '='; the padded form is the canonical one.
    let v = &VECTORS[0];
    assert_eq!(
        v.verify_header(v.signature.trim_end_matches('='), v.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn verify_reports_malformed_headers() {
    let v = &VECTORS[0];
    let secret = v.secret();
    let payload = v.payload.as_bytes();
    let ts = v.ts();
    let now = v.timestamp;

    assert_eq!(
        verify(&secret, "", &ts, v.signature, payload, now),
        Err(VerifyError::MissingHeader { name: HEADER_ID })
    );
    assert_eq!(
        verify(&secret, v.msg_id, " ", v.signature, payload, now),
        Err(VerifyError::MissingHeader {
            name: HEADER_TIMESTAMP
        })
    );
    for header in ["", "   "] {
        assert_eq!(
            verify(&secret, v.msg_id, &ts, header, payload, now),
            Err(VerifyError::MissingHeader {
                name: HEADER_SIGNATURE
            })
        );
    }
    for bad_ts in [
        "abc",
        "1614265330.5",
        "+1614265330",
        "1e9",
        "-",
        "16142 65330",
    ] {
        assert_eq!(
            verify(&secret, v.msg_id, bad_ts, v.signature, payload, now),
            Err(VerifyError::InvalidTimestamp),
            "{bad_ts:?}"
        );
    }
    assert_eq!(
        verify(
            &secret,
            v.msg_id,
            "99999999999999999999999",
            v.signature,
            payload,
            now
        ),
        Err(VerifyError::InvalidTimestamp)
    );
    // Surrounding whitespace in the timestamp header is tolerated.
    assert_eq!(
        verify(
            &secret,
            v.msg_id,
            &format!(" {ts} "),
            v.signature,
            payload,
            now
        ),
        Ok(())
    );
    for header in ["v1", "nocomma", "a b c"] {
        assert_eq!(
            verify(&secret, v.msg_id, &ts, header, payload, now),
            Err(VerifyError::MalformedSignatureHeader),
            "{header:?}"
        );
    }
    // Well-formed but undecodable v1 entries just fail to match.
    assert_eq!(
        verify(&secret, v.msg_id, &ts, "v1,!!!", payload, now),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn verify_now_uses_system_clock() {
    let secret = WebhookSecret::generate();
    let now = unix_now();
    let sig = sign(&secret, "msg_1", now, b"{}");
    assert_eq!(
        verify_now(&secret, "msg_1", &now.to_string(), &sig, b"{}"),
        Ok(())
    );
    let old = now - 3600;
    let sig = sign(&secret, "msg_1", old, b"{}");
    assert_eq!(
        verify_now(&secret, "msg_1", &old.to_string(), &sig, b"{}"),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn signature_header_signs_with_every_secret() {
    let v = &VECTORS[0];
    let vector_secret = v.secret();
    let other = WebhookSecret::generate();
    let payload = v.payload.as_bytes();

    let header = signature_header(&[&other, &vector_secret], v.msg_id, v.timestamp, payload);
    let entries: Vec<&str> = header.split(' ').collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0], sign(&other, v.msg_id, v.timestamp, payload));
    assert_eq!(entries[1], v.signature);

    let ts = v.ts();
    for secret in [&vector_secret, &other] {
        assert_eq!(
            verify(secret, v.msg_id, &ts, &header, payload, v.timestamp),
            Ok(())
        );
    }
    assert_eq!(signature_header(&[], v.msg_id, v.timestamp, payload), "");
}

#[test]
fn webhook_headers_pairs() {
    let v = &VECTORS[1];
    let secret = v.secret();
    let headers = WebhookHeaders::new(&[&secret], v.msg_id, v.timestamp, v.payload.as_bytes());
    // Field by field: `WebhookHeaders` is non-exhaustive, so no struct literal out here.
    assert_eq!(headers.id, v.msg_id);
    assert_eq!(headers.timestamp, v.timestamp);
    assert_eq!(headers.signature, v.signature);
    let pairs = headers.pairs();
    assert_eq!(
        pairs,
        [
            ("webhook-id", v.msg_id.to_owned()),
            ("webhook-timestamp", v.ts()),
            ("webhook-signature", v.signature.to_owned()),
        ]
    );
    assert_eq!(
        verify(
            &secret,
            &pairs[0].1,
            &pairs[1].1,
            &pairs[2].1,
            v.payload.as_bytes(),
            v.timestamp
        ),
        Ok(())
    );
}

#[test]
fn parse_accepts_with_and_without_prefix() {
    for v in &VECTORS {
        let bare = v.secret.strip_prefix("whsec_").unwrap();
        let from_bare = WebhookSecret::parse(bare).unwrap();
        assert_eq!(from_bare.expose(), v.secret);
        assert_eq!(
            sign(&from_bare, v.msg_id, v.timestamp, v.payload.as_bytes()),
            v.signature
        );
        assert_eq!(v.secret().expose(), v.secret);
    }
}

#[test]
fn parse_accepts_unpadded_base64() {
    // 25 bytes encode to 36 characters ending in "==".
    let key: Vec<u8> = (1..=25).collect();
    let padded = format!("whsec_{}", STANDARD.encode(&key));
    let unpadded = format!("whsec_{}", STANDARD_NO_PAD.encode(&key));
    assert!(padded.ends_with("=="));
    assert_eq!(unpadded.len() + 2, padded.len());

    let a = WebhookSecret::parse(&padded).unwrap();
    let b = WebhookSecret::parse(&unpadded).unwrap();
    let c = WebhookSecret::parse(unpadded.strip_prefix("whsec_").unwrap()).unwrap();
    // Canonical (padded) form is exposed either way.
    assert_eq!(a.expose(), padded);
    assert_eq!(b.expose(), padded);
    assert_eq!(c.expose(), padded);
    let sig = sign(&a, "msg_x", 1_700_000_000, b"{}");
    assert_eq!(sign(&b, "msg_x", 1_700_000_000, b"{}"), sig);
    assert_eq!(sign(&c, "msg_x", 1_700_000_000, b"{}"), sig);
}

#[test]
fn parse_rejects_truncated_vector_secret() {
    // 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS' is the first vector's secret missing its final
    // 'w', not an unpadded spelling of it: its 31 characters carry 23 bytes plus non-zero
    // trailing bits, so even with the '=' added it is neither canonical base64 nor 24+ bytes.
    for s in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=",
    ] {
        assert!(
            matches!(WebhookSecret::parse(s), Err(SigningError::InvalidBase64)),
            "{s}"
        );
    }
    // The canonical 23-byte prefix of the same key is valid base64 but too short.
    let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let short = STANDARD_NO_PAD.encode(&key[..23]);
    assert!(matches!(
        WebhookSecret::parse(&short),
        Err(SigningError::InvalidLength { len: 23 })
    ));
}

#[test]
fn parse_enforces_length_bounds() {
    for (len, ok) in [(0, false), (23, false), (24, true), (64, true), (65, false)] {
        let key = vec![7u8; len];
        let result = WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode(&key)));
        if ok {
            assert!(result.is_ok(), "{len}");
        } else {
            assert!(
                matches!(result, Err(SigningError::InvalidLength { len: l }) if l == len),
                "{len}"
            );
        }
    }
}

#[test]
fn parse_rejects_bad_base64() {
    for s in [
        "whsec_not base64!!",
        "whsec_MfKQ9r8G-YqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw===",
    ] {
        assert!(
            matches!(WebhookSecret::parse(s), Err(SigningError::InvalidBase64)),
            "{s}"
        );
    }
}

#[test]
fn generate_makes_32_byte_whsec_secrets() {
    let a = WebhookSecret::generate();
    let b = WebhookSecret::generate();
    assert_ne!(a.expose(), b.expose());
    for secret in [&a, &b] {
        let body = secret.expose().strip_prefix("whsec_").expect("prefix");
        assert_eq!(STANDARD.decode(body).unwrap().len(), 32);
        let round_trip = WebhookSecret::parse(secret.expose()).unwrap();
        assert_eq!(round_trip.expose(), secret.expose());
        assert_eq!(
            sign(&round_trip, "msg_1", 1, b"x"),
            sign(secret, "msg_1", 1, b"x")
        );
    }
}

#[test]
fn debug_and_errors_hide_secrets() {
    let secret = VECTORS[0].secret();
    let debug = format!("{secret:?}");
    assert_eq!(debug, "WebhookSecret(..)");
    assert!(!debug.contains("MfKQ"));

    let err = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap_err();
    assert!(!err.to_string().contains("MfKQ"));
    assert!(!format!("{err:?}").contains("MfKQ"));
    let err = WebhookSecret::parse("whsec_QUJD").unwrap_err();
    assert!(!err.to_string().contains("QUJD"));
}
