//! Tests of the `secrets` detector.

use super::*;

fn found(text: &str) -> Vec<(&'static str, String)> {
    crate::guard::detect::found_by(scan, text)
}

fn kinds(text: &str) -> Vec<&'static str> {
    found(text).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn provider_tokens() {
    assert_eq!(
        kinds("key AKIAZ3MHQK7PLX2RWN4D here"),
        vec!["aws_access_key"]
    );
    assert!(kinds("AKIAIOSFODNN7EXAMPLE").is_empty());
    assert!(kinds("xAKIAZ3MHQK7PLX2RWN4D").is_empty());
    assert_eq!(
        kinds("ghp_R4nd0mT0k3nV4lu3sAr3L0ng3n0ugh1234AB"),
        vec!["github_token"]
    );
    assert_eq!(kinds("glpat-Xy9_kLm2Pq7RsTuVwZ3a"), vec!["gitlab_token"]);
    assert_eq!(
        kinds("xoxb-2481632641-3141592653589-AbCdEfGhIjKl"),
        vec!["slack_token"]
    );
    assert_eq!(kinds("sk_live_51HxYzAbCdEfGhIjKlMnOp"), vec!["stripe_key"]);
    assert!(kinds("sk_test_4eC39HqLyjWDarjtT1zdp7dc").is_empty());
    assert_eq!(
        kinds("AIzaSyD3k9F8s7G6h5J4k3L2m1N0pQrStUvWxYz"),
        vec!["google_api_key"]
    );
    assert_eq!(
        kinds("sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA9876543210"),
        vec!["anthropic_api_key"]
    );
    assert_eq!(
        kinds("sk-proj-aB3dE5gH7jK9mN1pQ3sT5vW7yZ"),
        vec!["openai_api_key"]
    );
    assert!(kinds("task-sk-learn-tutorial-for-beginners-in-2024").is_empty());
    assert!(kinds("pip install sk-learn-tutorial-for-beginners-2024").is_empty());
}

#[test]
fn private_keys() {
    let body = "MIIEowIBAAKCAQEA7bq3Lr0kX9vWm2Pq8sTn4YhJ6cD1fGzR5uV0wE3xK7aL9bN2mQ4p";
    let k = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----");
    let f = found(&k);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].1, k);
    assert!(kinds("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----").is_empty());
    assert!(kinds("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----").is_empty());
}

#[test]
fn jwt_header_check() {
    let good = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxOTAwMDAwMDAwfQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";
    assert_eq!(kinds(&format!("Authorization: {good}")), vec!["jwt"]);
    // Header without "alg".
    let no_alg = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxOTAwMDAwMDAwfQ.c2lnbmF0dXJl";
    assert!(kinds(no_alg).is_empty());
    // Not JSON.
    assert!(kinds("eyJub3QganNvbg.eyJzdWIiOiJ1c2VyIn0.abcdefghijk").is_empty());
    // The jwt.io sample.
    assert!(kinds("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c").is_empty());
}

#[test]
fn assignments_and_entropy() {
    assert_eq!(kinds("DB_PASSWORD=Tr0ub4dor&3x"), vec!["password"]);
    assert_eq!(
        kinds(r#"{"api_key": "q8Zr2LmX9vT4wK7pN3sB6dF1"}"#),
        vec!["high_entropy_secret"]
    );
    assert_eq!(
        kinds("export GITHUB_TOKEN=9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
        vec!["high_entropy_secret"]
    );
    assert_eq!(
        kinds("mysql --password hX7!kq2Pz9 -u root"),
        vec!["password"]
    );
    assert_eq!(
        kinds("aws_secret_access_key = wJ4lrXUtnFEMI/K7MDENG/bPxRfiCYzQ8sKy2Lp1"),
        vec!["aws_secret_key"]
    );
    for benign in [
        "password = os.environ['DB_PASSWORD']",
        "token := os.Getenv(\"TOKEN\")",
        "api_key: ${API_KEY}",
        "\"password\": \"<your-password>\"",
        "next_page_token: CiAKGjBpNDd2Nmp2Zml2cXRnbjQ",
        "max_tokens = 4096",
        "token_type: Bearer",
        "private_key_path = /etc/ssl/private/server.key",
        "secret = aaaaaaaaaaaaaaaaaaaaaaaa1",
        "tokenizer = cl100k_base",
        "password: str",
        "password=self.password",
    ] {
        assert!(kinds(benign).is_empty(), "{benign}: {:?}", kinds(benign));
    }
}

#[test]
fn member_context() {
    let mut v = Vec::new();
    scan_member("clientSecret", "Zq3xT8vN2mL7pK4wR9sB", &mut |k, _, _| {
        v.push(k)
    });
    scan_member("password", "correct-Horse-7", &mut |k, _, _| v.push(k));
    scan_member(
        "sha256",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        &mut |k, _, _| v.push(k),
    );
    scan_member(
        "integrity",
        "sha512-abc123DEF456ghi789JKL012mno345PQR678stu901VWX",
        &mut |k, _, _| v.push(k),
    );
    scan_member("page_token", "Zq3xT8vN2mL7pK4wR9sB", &mut |k, _, _| {
        v.push(k)
    });
    assert_eq!(v, vec!["high_entropy_secret", "password"]);
}

#[test]
fn url_bearer_basic() {
    assert_eq!(
        kinds("postgres://app:s3cr3tPw9@db.internal:5432/app"),
        vec!["url_credentials"]
    );
    assert!(kinds("postgres://user:password@localhost/db").is_empty());
    assert!(kinds("https://user:${PASS}@host/x").is_empty());
    assert_eq!(
        kinds("Authorization: Bearer 7f3a9c2e1b8d4f6a0e5c9b3d7a1f4e8c2b6d0a9f"),
        vec!["bearer_token"]
    );
    assert!(kinds("uses a bearer token for auth").is_empty());
    assert_eq!(
        kinds("Authorization: Basic YWxpY2U6czNjcjN0UGFzcw=="),
        vec!["basic_auth"]
    );
    assert!(kinds("basic usage of the api").is_empty());
}
