//! Unit tests of [`super`] (the HTTP transport).

use super::*;

#[test]
fn keys_from_headers() {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_static("Bearer abc"));
    assert_eq!(extract_key(&h), Some("abc"));
    let mut h = HeaderMap::new();
    h.insert("apikey", HeaderValue::from_static("k1"));
    assert_eq!(extract_key(&h), Some("k1"));
    let mut h = HeaderMap::new();
    h.insert("ENKRYPT_GATEWAY_KEY", HeaderValue::from_static("k2"));
    assert_eq!(extract_key(&h), Some("k2"));
    assert_eq!(extract_key(&HeaderMap::new()), None);
}

#[test]
fn hosts() {
    assert_eq!(host_of("localhost:8000"), "localhost");
    assert_eq!(host_of("[::1]:8000"), "::1");
    assert_eq!(host_of("evil.example.com"), "evil.example.com");
    for h in [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "localhost",
        "LOCALHOST",
        "localhost.",
    ] {
        assert!(is_loopback_name(h), "{h}");
    }
    for h in [
        "evil.example.com",
        "127.evil.example",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "evil-localhost",
        "0.0.0.0",
        "",
    ] {
        assert!(!is_loopback_name(h), "{h}");
    }
}
