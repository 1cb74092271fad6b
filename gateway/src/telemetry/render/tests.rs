//! Tests of the `/metrics` page.

use std::time::Duration;

use super::*;
use crate::telemetry::tools::{Outcome, ToolTable, TransportLabel};

fn lines_of<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .collect()
}

#[test]
fn tool_series_with_labels_escaped() {
    let t = ToolTable::default();
    let echo = t.handle("everything", "echo", TransportLabel::Stdio);
    echo.record(Outcome::Ok, Duration::from_millis(2));
    echo.record(Outcome::Error, Duration::from_millis(20));
    t.handle("web", "say \"hi\"\n", TransportLabel::Http)
        .record(Outcome::Blocked, Duration::from_micros(10));
    let page = render(Scrape {
        tools: t.series(),
        tool_labels: t.distinct(),
        ..Scrape::default()
    });
    assert_eq!(
        lines_of(&page, "enkrypt_tool_calls_total"),
        vec![
            "enkrypt_tool_calls_total{server=\"everything\",tool=\"echo\",transport=\"stdio\"} 2",
            "enkrypt_tool_calls_total{server=\"web\",tool=\"say \\\"hi\\\"\\n\",transport=\"http\"} 1",
        ]
    );
    assert_eq!(
        lines_of(&page, "enkrypt_tool_errors_total"),
        vec![
            "enkrypt_tool_errors_total{server=\"everything\",tool=\"echo\",transport=\"stdio\"} 1",
            "enkrypt_tool_errors_total{server=\"web\",tool=\"say \\\"hi\\\"\\n\",transport=\"http\"} 0",
        ]
    );
    assert!(page.contains("# TYPE enkrypt_tool_duration_seconds histogram\n"));
    assert!(page.contains(
        "enkrypt_tool_duration_seconds_bucket{server=\"everything\",tool=\"echo\",transport=\"stdio\",le=\"0.005\"} 1\n"
    ));
    assert!(page.contains(
        "enkrypt_tool_duration_seconds_bucket{server=\"everything\",tool=\"echo\",transport=\"stdio\",le=\"+Inf\"} 2\n"
    ));
    assert!(page.contains(
        "enkrypt_tool_duration_seconds_count{server=\"everything\",tool=\"echo\",transport=\"stdio\"} 2\n"
    ));
    assert_eq!(
        lines_of(&page, "enkrypt_tool_label_values"),
        vec!["enkrypt_tool_label_values 2"]
    );
}

type Figures = (u64, u64, u64);

/// The per-tool families as `prometheus-client` writes them from the same figures.
#[derive(Debug)]
struct Reference(Vec<(String, String, Figures, HistogramSnapshot)>);

impl Collector for Reference {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        for (name, help, value) in TOOL_COUNTERS {
            let base = name.strip_suffix("_total").unwrap_or(name);
            let mut e = enc.encode_descriptor(base, help, None, MetricType::Counter)?;
            for (server, tool, counts, _) in &self.0 {
                let labels: Labels<3> = [
                    ("server", server.as_str()),
                    ("tool", tool.as_str()),
                    ("transport", "stdio"),
                ];
                counter(&mut e.encode_family(&labels)?, value(*counts))?;
            }
        }
        let mut e = enc.encode_descriptor(
            "enkrypt_tool_duration",
            "Tool call latency through the gateway",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (server, tool, _, h) in &self.0 {
            let labels: Labels<3> = [
                ("server", server.as_str()),
                ("tool", tool.as_str()),
                ("transport", "stdio"),
            ];
            histogram(&mut e.encode_family(&labels)?, h)?;
        }
        Ok(())
    }
}

#[test]
fn tool_families_as_prometheus_client_writes_them() {
    let t = ToolTable::default();
    for (i, name) in ["echo", "a \"quoted\" \\ tool\nname", "zeta"]
        .iter()
        .enumerate()
    {
        let h = t.handle("srv", name, TransportLabel::Stdio);
        for j in 0..=i as u64 {
            h.record(Outcome::Ok, Duration::from_micros(70 + 900 * j));
        }
        h.record(Outcome::Error, Duration::from_millis(30 * (i as u64 + 1)));
        h.record(Outcome::Blocked, Duration::from_secs(70));
    }
    let series = t.series();
    let reference = Reference(
        series
            .iter()
            .map(|s| {
                (
                    s.server.to_string(),
                    s.tool.to_string(),
                    s.stats.counts(),
                    s.stats.duration().snapshot(),
                )
            })
            .collect(),
    );
    let mut registry = Registry::default();
    registry.register_collector(Box::new(reference));
    let mut want = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut want, &registry).unwrap();
    let mut got = String::new();
    write_tools(&mut got, &series);
    assert_eq!(got, want);
}

#[test]
fn guard_auth_cache_and_upstream_series() {
    let mut blocks_by_detector = [0; Detector::ALL.len()];
    blocks_by_detector[1] = 2; // pii
    let guard = StatsSnapshot {
        checks: [3, 1, 0],
        blocked: [2, 1, 0],
        blocks_by_detector,
        redactions: 4,
        pin_changes: 1,
        ..StatsSnapshot::default()
    };
    let mut auth_failed = [0; AUTH_REASONS.len()];
    auth_failed[1] = 5;
    let page = render(Scrape {
        guard,
        auth_ok: 7,
        auth_failed,
        sessions: 3,
        upstreams: vec![UpstreamFigures {
            server: "everything".into(),
            up: true,
            connects: 2,
            failures: 1,
            restarts: 1,
        }],
        cache: Some(CacheFigures {
            hits: 9,
            misses: 2,
            entries: Some([4, 0, 1]),
            durations: vec![("get", HistogramSnapshot::default())],
            ..CacheFigures::default()
        }),
        ..Scrape::default()
    });
    for line in [
        "enkrypt_guardrail_checks_total{direction=\"input\"} 3",
        "enkrypt_guardrail_blocks_total{direction=\"output\"} 1",
        "enkrypt_guardrail_input_blocks_total 2",
        "enkrypt_guardrail_detector_blocks_total{detector=\"pii\"} 2",
        "enkrypt_guardrail_detector_blocks_total{detector=\"secrets\"} 0",
        "enkrypt_pii_redactions_total 4",
        "enkrypt_tool_pin_changes_total 1",
        "enkrypt_auth_success_total 7",
        "enkrypt_auth_failure_total{reason=\"unknown\"} 5",
        "enkrypt_auth_failure_total{reason=\"missing\"} 0",
        "enkrypt_session_active 3",
        "enkrypt_upstream_up{server=\"everything\"} 1",
        "enkrypt_upstream_restarts_total{server=\"everything\"} 1",
        "enkrypt_upstream_connect_failures_total{server=\"everything\"} 1",
        "enkrypt_cache_hits_total 9",
        "enkrypt_cache_misses_total 2",
        "enkrypt_cache_size{kind=\"tools\"} 4",
        "enkrypt_cache_operations_duration_seconds_count{op=\"get\"} 0",
        "enkrypt_timeout_operations_total 0",
    ] {
        assert!(
            page.lines().any(|l| l == line),
            "{line} missing from\n{page}"
        );
    }
    assert!(page.contains("# TYPE enkrypt_cache_hits_total counter\n"));
    // Every sample line parses as `name{labels} value`.
    for l in page.lines().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().unwrap_or_default();
        assert!(
            value.parse::<f64>().is_ok() || value == "+Inf",
            "bad sample line {l}"
        );
    }
}
