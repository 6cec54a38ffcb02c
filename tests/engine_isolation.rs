//! A collector that panics, hangs past its timeout or fails must give `error` verdicts
//! for its own rules only; the other collectors carry on. The misbehaving collectors
//! here stand in for real ones with bugs; the policies, engine and runtime are real.

use attestd::config::Config;
use attestd::engine::Engine;
use attestd::policy::{Catalog, PolicySet, Status};
use attestd_collectors::{CollectContext, CollectError, Collector, Evidence, HostRoot};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Misbehaving {
    name: &'static str,
    how: &'static str,
}

impl Collector for Misbehaving {
    fn name(&self) -> &'static str {
        self.name
    }
    fn version(&self) -> &'static str {
        "test"
    }
    fn watched_paths(&self, _: &serde_json::Value) -> Vec<PathBuf> {
        vec![]
    }
    fn default_schedule(&self) -> &'static str {
        "* * * * *"
    }
    fn collect(&self, _: &CollectContext) -> Result<Evidence, CollectError> {
        match self.how {
            "panic" => panic!("index out of bounds in a parser"),
            "hang" => {
                std::thread::sleep(Duration::from_secs(4));
                unreachable!()
            }
            "fail" => Err(CollectError::Unreadable {
                path: "/etc/login.defs".into(),
                reason: "permission denied".into(),
            }),
            _ => Ok(Evidence {
                facts: serde_json::json!({"load_per_cpu": {"fifteen": 0.1}, "effective": {}}),
                artifacts: vec![],
            }),
        }
    }
}

const CATALOG: &str = "[framework]\nid = \"soc2\"\nname = \"SOC 2\"\n[[control]]\nid = \"A1.1\"\nname = \"n\"\nsummary = \"s\"\n";

fn rule(id: &str, collector: &str) -> String {
    format!(
        "[[rule]]\nid = \"{id}\"\ntitle = \"t\"\ncollector = \"{collector}\"\nseverity = \"low\"\ncontrols = [\"soc2:A1.1\"]\ncheck = \"true\"\nexpected = \"e\"\nrationale = \"r\"\nsources = [\"s\"]\nremediation = \"f\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_or_hanging_collector_only_errors_its_own_rules() {
    let config = Config::parse(
        "test.toml",
        "[collectors.password_policy]\ntimeout_seconds = 1\n[collectors.availability]\ntimeout_seconds = 1\n",
    )
    .unwrap();
    let catalog = Catalog::from_files(&[("soc2.toml".into(), CATALOG.into())]).unwrap();
    let rules = rule("a.ok", "availability") + &rule("p.broken", "password_policy");
    let policies = PolicySet::from_rule_files(
        catalog,
        &[("r.toml".into(), rules)],
        &attestd::policy::PolicyInputs::from_config(&config),
    )
    .unwrap();
    let config = Arc::new(config);
    let policies = Arc::new(policies);
    let names = vec!["password_policy".to_string(), "availability".to_string()];
    for how in ["panic", "hang", "fail"] {
        let collectors: Vec<Arc<dyn Collector>> = vec![
            Arc::new(Misbehaving {
                name: "password_policy",
                how,
            }),
            Arc::new(Misbehaving {
                name: "availability",
                how: "ok",
            }),
        ];
        let engine = Engine::with_collectors(
            config.clone(),
            policies.clone(),
            HostRoot::live(),
            collectors,
        );
        let started = Instant::now();
        let run = engine
            .run(&names, "manual", &|_| None, &attestd::clock::SystemClock)
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{how}: the run waited for a hung collector"
        );
        let broken = run
            .collectors
            .iter()
            .find(|c| c.collector == "password_policy")
            .unwrap();
        let reason = broken.outcome.as_ref().unwrap_err();
        assert_eq!(broken.verdicts[0].status, Status::Error, "{how}");
        let expected_reason = match how {
            "panic" => "panicked: index out of bounds",
            "hang" => "timed out after 1 s",
            _ => "permission denied",
        };
        assert!(reason.contains(expected_reason), "{how}: {reason}");
        assert!(broken.verdicts[0]
            .reason
            .as_ref()
            .unwrap()
            .contains(expected_reason));
        let fine = run
            .collectors
            .iter()
            .find(|c| c.collector == "availability")
            .unwrap();
        assert_eq!(
            fine.verdicts[0].status,
            Status::Pass,
            "{how}: the healthy collector was affected"
        );
    }
}
