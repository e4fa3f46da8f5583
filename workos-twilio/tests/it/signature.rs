//! Signature vectors, recomputed from Twilio's official helper libraries.

use workos_twilio::{RequestValidator, parse_form, sha256_hex};

use crate::pairs;

const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const URL_443: &str = "https://mycompany.com:443/myapp.php?foo=1&bar=2";

const SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const SIG_HTTPS_443: &str = "kvajT1Ptam85bY51eRf/AJRuM3w=";
const URL_HTTP_80: &str = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
const SIG_HTTP_80: &str = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
const URL_HTTP_1234: &str = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
const SIG_HTTP_1234: &str = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
const URL_USER_PASS: &str = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
const SIG_USER_PASS: &str = "CukzLTc1tT5dXEDIHm/tKBanW10=";
const URL_USER: &str = "https://user@mycompany.com/myapp.php?foo=1&bar=2";
const SIG_USER: &str = "2YRLlVAflCqxaNicjMpJcSTgzSs=";
const URL_USER_PASS_443: &str = "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2";
const SIG_USER_PASS_443: &str = "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=";
const URL_ENCODED_QUERY: &str = "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It%27s+amazing";
const SIG_ENCODED_QUERY: &str = "TfZzewPq8wqrGlMfyAud8+/IvJ0=";
const SIG_MULTI_VALUE: &str = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";
const SIG_ARRAY: &str = "83O6e2vORAoJHUNzJjDWN1jz+BA=";
const SIG_DOCS_EXAMPLE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

const BODY: &str = "{\"property\": \"value\", \"boolean\": true}";
const BODY_SHA256: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const URL_BODY: &str = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const SIG_BODY: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";
const URL_ONLY_SHA: &str = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const SIG_ONLY_SHA: &str = "y77kIzt2vzLz71DgmJGsen2scGs=";
const EMPTY_BODY: &str = "{}";
const EMPTY_BODY_SHA256: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The empty-body vector is signed over the `:443` form of this URL (note `foo=1&bar=2`).
const URL_EMPTY_BODY: &str = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const URL_EMPTY_BODY_443: &str = "https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const SIG_EMPTY_BODY: &str = "Ldidvp12m26NI7eqEvxnEpkd9Hc=";

fn validator() -> RequestValidator {
    RequestValidator::new(TOKEN)
}

fn params() -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

fn multi_value_params() -> Vec<(String, String)> {
    pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ])
}

#[test]
fn computes_signature_over_url_and_sorted_params() {
    assert_eq!(validator().signature(URL, &params()), SIG);
    assert!(validator().validate(URL, &params(), SIG));
}

#[test]
fn param_order_does_not_matter() {
    let mut reversed = params();
    reversed.reverse();
    assert_eq!(validator().signature(URL, &reversed), SIG);
}

#[test]
fn https_with_port_443() {
    let v = validator();
    assert_eq!(v.signature(URL_443, &params()), SIG_HTTPS_443);
    assert!(v.validate(URL_443, &params(), SIG_HTTPS_443));
    // Signed with :443, received without: accepted by adding the default port.
    assert!(v.validate(URL, &params(), SIG_HTTPS_443));
    // Signed without the port, received with :443: accepted by removing it.
    assert!(v.validate(URL_443, &params(), SIG));
}

#[test]
fn http_with_port_80() {
    let v = validator();
    let without = "http://mycompany.com/myapp.php?foo=1&bar=2";
    assert_eq!(v.signature(URL_HTTP_80, &params()), SIG_HTTP_80);
    assert!(v.validate(URL_HTTP_80, &params(), SIG_HTTP_80));
    assert!(v.validate(without, &params(), SIG_HTTP_80));
    let sig_without = v.signature(without, &params());
    assert!(v.validate(URL_HTTP_80, &params(), &sig_without));
}

#[test]
fn non_default_port_is_kept() {
    let v = validator();
    assert_eq!(v.signature(URL_HTTP_1234, &params()), SIG_HTTP_1234);
    assert!(v.validate(URL_HTTP_1234, &params(), SIG_HTTP_1234));
    assert!(!v.validate(
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        &params(),
        SIG_HTTP_1234
    ));
    assert!(!v.validate(URL_HTTP_80, &params(), SIG_HTTP_1234));
}

#[test]
fn wrong_default_port_for_scheme_is_not_toggled() {
    // :80 on https is not a default port: it must not be stripped to match SIG.
    let url = "https://mycompany.com:80/myapp.php?foo=1&bar=2";
    assert!(!validator().validate(url, &params(), SIG));
}

#[test]
fn user_info_is_kept_as_signed() {
    let v = validator();
    assert_eq!(v.signature(URL_USER_PASS, &params()), SIG_USER_PASS);
    assert_eq!(v.signature(URL_USER, &params()), SIG_USER);
    assert_eq!(v.signature(URL_USER_PASS_443, &params()), SIG_USER_PASS_443);
    assert!(v.validate(URL_USER_PASS, &params(), SIG_USER_PASS));
    assert!(v.validate(URL_USER, &params(), SIG_USER));
    assert!(v.validate(URL_USER_PASS_443, &params(), SIG_USER_PASS_443));
    // Port variants work with user info present.
    assert!(v.validate(URL_USER_PASS, &params(), SIG_USER_PASS_443));
    assert!(v.validate(URL_USER_PASS_443, &params(), SIG_USER_PASS));
    // User info is part of the signed URL.
    assert!(!v.validate(URL, &params(), SIG_USER_PASS));
    assert!(!v.validate(URL_USER, &params(), SIG_USER_PASS));
}

#[test]
fn encoded_query_is_signed_as_given() {
    let v = validator();
    assert_eq!(v.signature(URL_ENCODED_QUERY, &params()), SIG_ENCODED_QUERY);
    assert!(v.validate(URL_ENCODED_QUERY, &params(), SIG_ENCODED_QUERY));
    let decoded = "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It's+amazing";
    assert!(!v.validate(decoded, &params(), SIG_ENCODED_QUERY));
}

#[test]
fn repeated_names_sort_by_value_and_identical_pairs_count_once() {
    let v = validator();
    // The official libraries sign each distinct value of a repeated name once:
    // Digits1234 Digits5678 (the duplicate 1234 is not repeated). No port variant needed.
    assert_eq!(v.signature(URL, &multi_value_params()), SIG_MULTI_VALUE);
    let distinct = pairs(&[
        ("Digits", "1234"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Sid", "CA123"),
    ]);
    assert_eq!(v.signature(URL, &distinct), SIG_MULTI_VALUE);
    assert!(v.validate(URL, &multi_value_params(), SIG_MULTI_VALUE));
    assert!(v.validate(URL_443, &multi_value_params(), SIG_MULTI_VALUE));
    // Dropping a distinct value still breaks the signature.
    let missing = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "1234"),
    ]);
    assert!(!v.validate(URL, &missing, SIG_MULTI_VALUE));
}

#[test]
fn array_params() {
    let v = validator();
    let array = pairs(&[
        ("MessagingBinding.Address", "+1415xxxxxxx"),
        ("MessagingBinding.Address", "+1325xxxxxxx"),
    ]);
    assert_eq!(v.signature(URL, &array), SIG_ARRAY);
    assert!(v.validate(URL, &array, SIG_ARRAY));
    let form = parse_form(
        b"MessagingBinding.Address=%2B1325xxxxxxx&MessagingBinding.Address=%2B1415xxxxxxx",
    );
    assert!(v.validate(URL, &form, SIG_ARRAY));
}

#[test]
fn docs_example() {
    let docs = pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]);
    assert_eq!(validator().signature(URL, &docs), SIG_DOCS_EXAMPLE);
    assert!(validator().validate(URL, &docs, SIG_DOCS_EXAMPLE));
}

#[test]
fn parse_form_decodes_plus_and_percent() {
    let form = parse_form(b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212");
    assert_eq!(form, params());
    assert!(validator().validate(URL, &form, SIG));
    assert_eq!(
        parse_form(b"Body=It%27s+amazing&Body=x"),
        pairs(&[("Body", "It's amazing"), ("Body", "x")])
    );
    assert!(parse_form(b"").is_empty());
}

#[test]
fn json_body() {
    let v = validator();
    assert_eq!(sha256_hex(BODY.as_bytes()), BODY_SHA256);
    assert_eq!(v.signature(URL_BODY, &[]), SIG_BODY);
    assert!(v.validate_body(URL_BODY, BODY.as_bytes(), SIG_BODY));
    assert_eq!(v.signature(URL_ONLY_SHA, &[]), SIG_ONLY_SHA);
    assert!(v.validate_body(URL_ONLY_SHA, BODY.as_bytes(), SIG_ONLY_SHA));
}

#[test]
fn json_body_empty_object_signed_with_port() {
    let v = validator();
    assert_eq!(sha256_hex(EMPTY_BODY.as_bytes()), EMPTY_BODY_SHA256);
    assert_eq!(v.signature(URL_EMPTY_BODY_443, &[]), SIG_EMPTY_BODY);
    assert!(v.validate_body(URL_EMPTY_BODY, EMPTY_BODY.as_bytes(), SIG_EMPTY_BODY));
    assert!(v.validate_body(URL_EMPTY_BODY_443, EMPTY_BODY.as_bytes(), SIG_EMPTY_BODY));
    // Not valid for the URL without `foo=1&bar=2`.
    let no_query = "https://mycompany.com/myapp.php?bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    assert!(!v.validate_body(no_query, EMPTY_BODY.as_bytes(), SIG_EMPTY_BODY));
}

#[test]
fn json_body_rejects_tampering() {
    let v = validator();
    // Body changed: hash mismatch even though the URL signature is valid.
    assert!(!v.validate_body(
        URL_BODY,
        b"{\"property\": \"evil\", \"boolean\": true}",
        SIG_BODY
    ));
    // Hash of the body not in the URL at all.
    assert!(!v.validate_body(URL, BODY.as_bytes(), &v.signature(URL, &[])));
    // Uppercase hex is not what Twilio sends.
    let upper = format!(
        "https://mycompany.com/myapp.php?bodySHA256={}",
        BODY_SHA256.to_uppercase()
    );
    assert!(!v.validate_body(&upper, BODY.as_bytes(), &v.signature(&upper, &[])));
    // Wrong signature, empty signature, wrong token.
    assert!(!v.validate_body(URL_BODY, BODY.as_bytes(), SIG_ONLY_SHA));
    assert!(!v.validate_body(URL_BODY, BODY.as_bytes(), ""));
    assert!(!RequestValidator::new("54321").validate_body(URL_BODY, BODY.as_bytes(), SIG_BODY));
}

#[test]
fn rejects_tampered_param_value() {
    let mut tampered = params();
    tampered[2].1 = "9999".to_owned();
    assert!(!validator().validate(URL, &tampered, SIG));
}

#[test]
fn rejects_extra_param() {
    let mut extra = params();
    extra.push(("Extra".to_owned(), "1".to_owned()));
    assert!(!validator().validate(URL, &extra, SIG));
}

#[test]
fn rejects_missing_param() {
    let mut fewer = params();
    fewer.pop();
    assert!(!validator().validate(URL, &fewer, SIG));
}

#[test]
fn rejects_dropped_query_string() {
    assert!(!validator().validate("https://mycompany.com/myapp.php", &params(), SIG));
    assert!(!validator().validate("https://mycompany.com:443/myapp.php", &params(), SIG));
}

#[test]
fn rejects_wrong_token() {
    assert!(!RequestValidator::new("54321").validate(URL, &params(), SIG));
}

#[test]
fn rejects_empty_and_malformed_signatures() {
    let v = validator();
    assert!(!v.validate(URL, &params(), ""));
    assert!(!v.validate(URL, &params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
    assert!(!v.validate(URL, &params(), "rsoydt4t1cutdk1pdd93/vvr8b8="));
    assert!(!v.validate(URL, &params(), &format!("{SIG} ")));
}

#[test]
fn debug_hides_token() {
    let dbg = format!("{:?}", RequestValidator::new("super-secret-token"));
    assert!(!dbg.contains("super-secret-token"), "{dbg}");
}
