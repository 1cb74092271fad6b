//! Tests of the `pii` detector.

use super::*;

fn found(text: &str) -> Vec<(&'static str, String)> {
    crate::guard::detect::found_by(scan, text)
}

fn kinds(text: &str) -> Vec<&'static str> {
    found(text).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn luhn_and_cards() {
    assert!(luhn(&[4, 5, 3, 9, 1, 4, 8, 8, 0, 3, 4, 3, 6, 4, 6, 7]));
    assert!(!luhn(&[4, 5, 3, 9, 1, 4, 8, 8, 0, 3, 4, 3, 6, 4, 6, 8]));
    assert_eq!(
        found("card 4539 1488 0343 6467 exp 12/27"),
        vec![("payment_card", "4539 1488 0343 6467".to_string())]
    );
    assert_eq!(kinds("4539-1488-0343-6467"), vec!["payment_card"]);
    assert_eq!(kinds("n=4539148803436467;"), vec!["payment_card"]);
    assert_eq!(kinds("amex 3714 496353 98431"), Vec::<&str>::new()); // test number
    assert_eq!(kinds("amex 3782 822463 10006"), Vec::<&str>::new()); // bad Luhn
    assert!(kinds("4242 4242 4242 4242").is_empty());
    assert!(kinds("4111111111111111").is_empty());
    assert!(kinds("ts 1700000000000 and 0.4539148803436467").is_empty());
    assert!(kinds("sha a4539148803436467b").is_empty());
}

#[test]
fn ssn_rules() {
    assert_eq!(kinds("SSN: 536-22-1234"), vec!["us_ssn"]);
    assert!(kinds("000-12-3456 666-12-3456 912-12-3456 536-00-1234 536-22-0000").is_empty());
    assert!(kinds("078-05-1120").is_empty());
    assert_eq!(kinds("ssn 536221234"), vec!["us_ssn"]);
    assert!(kinds("order 536221234").is_empty());
    assert!(kinds("isbn 978-3-16-148410-0").is_empty());
}

#[test]
fn aadhaar_verhoeff() {
    assert!(verhoeff(&[2, 3, 6]));
    assert!(!verhoeff(&[2, 3, 7]));
    // 4991 1866 5246 passes Verhoeff.
    assert_eq!(kinds("aadhaar 4991 1866 5246"), vec!["in_aadhaar"]);
    assert!(kinds("4991 1866 5247").is_empty());
}

#[test]
fn iban_mod97_and_lengths() {
    assert_eq!(iban_mod97(b"GB82WEST12345698765432"), Some(1));
    assert_eq!(iban_mod97(b"GB83WEST12345698765432"), Some(2));
    assert_eq!(kinds("IBAN GB82 WEST 1234 5698 7654 32."), vec!["iban"]);
    assert_eq!(kinds("DE89370400440532013000"), vec!["iban"]);
    assert_eq!(
        found("to DE89 3704 0044 0532 0130 00 PLEASE"),
        vec![("iban", "DE89 3704 0044 0532 0130 00".to_string())]
    );
    assert!(kinds("DE89370400440532013001").is_empty());
}

#[test]
fn national_ids() {
    assert_eq!(kinds("NI number JT 48 73 92 B"), vec!["uk_nino"]);
    assert!(kinds("QQ 12 34 56 C").is_empty());
    assert!(kinds("GB 12 34 56 C").is_empty());
    assert_eq!(kinds("PAN ABCPE1234F"), vec!["in_pan"]);
    assert_eq!(kinds("DNI 12345678Z"), vec!["es_dni"]);
    assert!(kinds("DNI 12345678A").is_empty());
    assert_eq!(kinds("NIE X1234567L"), vec!["es_dni"]);
}

#[test]
fn phones() {
    assert_eq!(kinds("call +1 415 555 2671"), vec!["phone"]);
    assert_eq!(kinds("+442079460958"), vec!["phone"]);
    assert_eq!(kinds("(415) 867-5309"), vec!["phone"]);
    assert_eq!(kinds("415-867-5309"), vec!["phone"]);
    assert_eq!(kinds("tel 01 42 68 53 00"), vec!["phone"]);
    assert_eq!(kinds("0044 20 7946 0958"), vec!["phone"]);
    for benign in [
        "2024-01-15 10:30:00",
        "version 1.2.3",
        "took 1234567 ms",
        "id 12345678",
        "+1 for this idea",
        "555-0123",
        "port 8080, pid 4321",
        "2.5.0+20240115",
        "(555) 012-3456",
    ] {
        assert!(kinds(benign).is_empty(), "{benign}: {:?}", kinds(benign));
    }
}

#[test]
fn ips() {
    assert_eq!(kinds("client 81.2.69.160 connected"), vec!["ip_address"]);
    for benign in [
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.10",
        "8.8.8.8",
        "0.0.0.0",
        "v1.2.3.4",
        "1.2.3.4.5",
        "01.02.03.04",
        "203.0.113.7",
    ] {
        assert!(kinds(benign).is_empty(), "{benign}");
    }
    assert_eq!(kinds("from 2a00:1450:4001:82a::200e"), vec!["ip_address"]);
    assert!(kinds("::1 fe80::1 2001:db8::1 12:30:45 std::vec").is_empty());
}

#[test]
fn emails() {
    assert_eq!(
        found("mail <jane.doe+x@acme-mail.co.uk>."),
        vec![("email", "jane.doe+x@acme-mail.co.uk".to_string())]
    );
    assert_eq!(kinds("mailto:bob@corp.io"), vec!["email"]);
    for benign in [
        "git@github.com:org/repo.git",
        "user@example.com",
        "logo@2x.png",
        "npm i react@18.2.0",
        "@decorator",
        "https://user:pw@host.io/x",
        "noreply@github.com",
    ] {
        assert!(kinds(benign).is_empty(), "{benign}");
    }
}
