//! Prometheus metrics: requests by route and status class, and a latency histogram.
//! Small enough to keep here rather than pull in an exporter crate.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Series>>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let s = m.entry(route.to_owned()).or_default();
            s.count += 1;
            s.sum += secs;
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    s.buckets[i] += 1;
                }
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP partnerhub_http_requests_total HTTP requests answered.\n# TYPE partnerhub_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(out, "partnerhub_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP partnerhub_http_request_duration_seconds Time to answer.\n# TYPE partnerhub_http_request_duration_seconds histogram\n",
        );
        if let Ok(m) = self.latency.lock() {
            for (route, s) in m.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ =
                        writeln!(out, "partnerhub_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}", s.buckets[i]);
                }
                let _ = writeln!(out, "partnerhub_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", s.count);
                let _ = writeln!(out, "partnerhub_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", s.sum);
                let _ = writeln!(out, "partnerhub_http_request_duration_seconds_count{{route=\"{route}\"}} {}", s.count);
            }
        }
        out
    }
}

/// The method as a label from a closed set: a client inventing methods must not grow the
/// number of series (each one is memory kept forever and a line in every scrape).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

pub async fn track(State(state): State<crate::AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    // The route template, never the raw path: ids and tokens stay out of the labels.
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    state.metrics.record(method, &route, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}
