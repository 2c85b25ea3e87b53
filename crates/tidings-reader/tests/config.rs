//! Configuration parsing.
#![allow(clippy::unwrap_used, missing_docs)]

use tidings_reader::{AccessRule, ReaderConfig};

#[derive(serde::Deserialize)]
struct Daemon {
    reader: ReaderConfig,
    #[serde(default)]
    access: Vec<AccessRule>,
}

#[test]
fn reader_table_and_access_rules() {
    let d: Daemon = toml::from_str(
        r#"
        [reader]
        max_article = 5000
        idle_timeout_secs = 30
        moderators = ["mod.*:%s@example.org"]

        [[reader.access]]
        from = ["10.0.0.0/8"]
        read = "*,!secret.*"
        post = ""
        newnews = false

        [[access]]
        users = ["*"]
        max_connections_per_user = 3
        posts_per_minute = 10
        "#,
    )
    .unwrap();
    assert_eq!(d.reader.max_article, 5000);
    assert_eq!(d.reader.max_line, 512);
    assert_eq!(d.reader.access.len(), 1);
    let r = &d.reader.access[0];
    assert!(r.applies("10.1.2.3".parse().unwrap(), None));
    assert!(!r.applies("11.1.2.3".parse().unwrap(), None));
    assert!(!r.newnews && r.post.is_empty());
    let a = &d.access[0];
    assert_eq!(a.read, "*");
    assert!(a.applies("192.0.2.1".parse().unwrap(), Some("x")));
    assert!(!a.applies("192.0.2.1".parse().unwrap(), None));
    assert_eq!(a.max_connections_per_user, Some(3));
}

#[test]
fn unknown_fields_are_refused() {
    assert!(toml::from_str::<ReaderConfig>("max_lines = 3").is_err());
    assert!(toml::from_str::<AccessRule>("user = [\"a\"]").is_err());
}

#[test]
fn default_rules_admit_loopback_only() {
    let rules = tidings_reader::default_rules();
    let first = |ip: &str, user: Option<&str>| {
        rules
            .iter()
            .position(|r| r.applies(ip.parse().unwrap(), user))
    };
    assert_eq!(first("127.0.0.1", None), Some(0));
    assert_eq!(first("::1", None), Some(0));
    assert_eq!(first("::ffff:127.0.0.2", None), Some(0));
    assert_eq!(first("192.0.2.1", None), None);
    assert_eq!(first("192.0.2.1", Some("u")), Some(1));
}
