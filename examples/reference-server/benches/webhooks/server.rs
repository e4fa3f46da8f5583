//! One scenario's server over its own database, and who delivers its webhooks: the in-process
//! pipeline or `workos-server worker` processes.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use tokio::runtime::Handle;
use workos_core::crypto::SecretKey;
use workos_reference_server::bootstrap;
use workos_reference_server::config::Config;
use workos_reference_server::state::AppState;
use workos_store::SqlStore;
use workos_tests::db::with_database;
use workos_webhooks::worker::{Pipeline, PipelineHandle, WebhookConfig};

use crate::{RATE_LIMIT_PER_MINUTE, Settings, serving};

/// One scenario's server over its own database.
pub(crate) struct Server {
    /// The database's name.
    pub(crate) db: String,
    pub(crate) store: SqlStore,
    pub(crate) state: AppState,
    pub(crate) url: String,
    pub(crate) base: String,
    pub(crate) auth: String,
    /// The environment worker processes get (the same secrets as the in-process state).
    pub(crate) env: Vec<(String, String)>,
    pub(crate) serving: serving::Serving,
}

pub(crate) async fn start_server(admin_url: &str, db: &str) -> Result<Server> {
    let url = with_database(admin_url, db);
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;
    let env: Vec<(String, String)> = [
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", RATE_LIMIT_PER_MINUTE.into()),
        ("WORKOS_WEBHOOK_ALLOWED_SUBNETS", "127.0.0.0/8".into()),
        ("WORKOS_BIND", "127.0.0.1:0".into()),
        ("WORKOS_LOG", "warn".into()),
        ("DATABASE_URL", url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let lookup: HashMap<String, String> = env.iter().cloned().collect();
    let config = Config::from_lookup(|k| lookup.get(k).cloned())?;
    let state = AppState::new(store.clone(), config);
    let (_, secret) = bootstrap::create_org_with_key(&store, &state.hasher, "webhook bench")
        .await
        .map_err(|e| anyhow!("creating the org: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = serving::spawn(&Handle::current(), listener, state.clone());
    Ok(Server {
        db: db.to_owned(),
        store,
        state,
        url,
        base: format!("http://{addr}"),
        auth: format!("Bearer {}", secret.expose()),
        env,
        serving,
    })
}

impl Server {
    pub(crate) async fn stop(self) {
        self.serving.stop().await;
        self.store.close().await;
    }

    pub(crate) fn webhook_config(&self, s: &Settings) -> WebhookConfig {
        let mut config = self.state.webhook_config.clone();
        config.claim_batch = s.claim_batch;
        config.max_in_flight = s.worker_in_flight;
        config
    }
}

/// Who delivers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Workers {
    /// `Pipeline::spawn` on the server runtime, over the API's store (one pool of 16).
    InProcess,
    /// The same over a store of its own (a second pool of 16 connections).
    InProcessOwnPool,
    /// This many `workos-server worker` processes.
    Processes(usize),
}

impl Workers {
    pub(crate) fn describe(self) -> String {
        match self {
            Self::InProcess => "in-process".into(),
            Self::InProcessOwnPool => "in-process, own pool".into(),
            Self::Processes(1) => "1 process".into(),
            Self::Processes(n) => format!("{n} processes"),
        }
    }
}

/// A running pipeline; stopped (processes killed) on drop.
pub(crate) enum Running {
    InProcess(Option<PipelineHandle>, Handle),
    Processes(Vec<Child>),
}

impl Running {
    pub(crate) async fn start(
        workers: Workers,
        server: &Server,
        s: &Settings,
        server_rt: &Handle,
    ) -> Result<Self> {
        match workers {
            Workers::InProcess | Workers::InProcessOwnPool => {
                let (store, url, cipher, config) = (
                    server.store.clone(),
                    server.url.clone(),
                    server.state.cipher.clone(),
                    server.webhook_config(s),
                );
                let own = workers == Workers::InProcessOwnPool;
                let handle = server_rt
                    .spawn(async move {
                        let store = if own {
                            SqlStore::connect(&url).await?
                        } else {
                            store
                        };
                        Pipeline::spawn(Arc::new(store), cipher, config)
                    })
                    .await?
                    .map_err(|e| anyhow!("starting the pipeline: {e}"))?;
                Ok(Self::InProcess(Some(handle), server_rt.clone()))
            }
            Workers::Processes(n) => {
                let mut children = Vec::new();
                for _ in 0..n {
                    let mut command = Command::new(env!("CARGO_BIN_EXE_workos-server"));
                    for (name, _) in std::env::vars_os() {
                        let n = name.to_string_lossy();
                        if n.starts_with("WORKOS_") || n.starts_with("TWILIO_") {
                            command.env_remove(&name);
                        }
                    }
                    let child = command
                        .arg("worker")
                        .envs(server.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        .current_dir(std::env::temp_dir())
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::inherit())
                        .spawn()
                        .context("starting workos-server worker")?;
                    children.push(child);
                }
                Ok(Self::Processes(children))
            }
        }
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        match self {
            Self::InProcess(..) => Vec::new(),
            Self::Processes(children) => children.iter().map(Child::id).collect(),
        }
    }

    pub(crate) async fn stop(mut self) {
        match &mut self {
            Self::InProcess(handle, rt) => {
                if let Some(handle) = handle.take() {
                    let stopped = rt.spawn(handle.shutdown());
                    if tokio::time::timeout(Duration::from_secs(60), stopped)
                        .await
                        .is_err()
                    {
                        eprintln!("the pipeline did not stop within 60 s");
                    }
                }
            }
            Self::Processes(children) => {
                for c in children.iter_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Self::Processes(children) = self {
            for c in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
