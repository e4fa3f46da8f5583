//! `workos-server`: runs the reference server, or an admin command.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use workos_core::ids::OrgId;
use workos_core::repo::OrgRepo;
use workos_core::tenant::{Role, TenantContext};
use workos_reference_server::config::{Config, DatabaseConfig};
use workos_reference_server::state::AppState;
use workos_reference_server::{app, bootstrap, database, serve, shutdown_signal};

#[derive(Parser)]
#[command(name = "workos-server", about = "The WorkOS engine's reference server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API (the default), with the webhook dispatcher and workers, the lead
    /// sender and the queued-lead job in-process.
    Serve {
        /// Leave webhook and lead delivery to separate `workos-server worker` processes.
        #[arg(long)]
        no_webhook_workers: bool,
    },
    /// Run only the background work (webhook dispatcher and delivery workers, the lead sender,
    /// Gmail sync, the queued-lead job), to scale it out.
    Worker,
    /// Apply the pending migrations (through WORKOS_MIGRATION_DATABASE_URL, default
    /// DATABASE_URL), print what was applied, and exit.
    Migrate,
    /// Administrative commands; each prints one JSON object.
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Create an org and an owner API key: prints {"org_id", "api_key"}.
    CreateOrg {
        /// The org's name.
        #[arg(long)]
        name: String,
    },
    /// Create an API key for an org: prints {"org_id", "api_key_id", "role", "api_key"}.
    CreateApiKey {
        /// The org.
        #[arg(long)]
        org: OrgId,
        /// owner, admin, member or viewer.
        #[arg(long)]
        role: Role,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        no_webhook_workers: false,
    });
    if let Command::Migrate = command {
        // Needs only the database settings: a migration job has no app secrets.
        let db = DatabaseConfig::from_env()?;
        init_tracing(&std::env::var("WORKOS_LOG").unwrap_or_else(|_| "info".into()));
        let applied = database::migrate(&db).await?;
        print!("{}", database::report(&applied));
        return Ok(());
    }
    let config = Config::from_env()?;
    init_tracing(&config.log);

    let store = database::open(&config.database).await?;
    let bind = config.bind;
    let state = AppState::new(store.clone(), config);

    match command {
        Command::Serve { no_webhook_workers } => run(state, bind, !no_webhook_workers).await,
        // Answered above, before the configuration is read.
        Command::Migrate => Ok(()),
        Command::Worker => {
            let pipeline = spawn_pipeline(&state)?;
            let lead_sender = spawn_lead_sender(&state)?;
            let gmail_sync = spawn_gmail_sync(&state)?;
            let lead_routing = spawn_lead_routing(&state);
            tracing::info!("webhook workers, lead sender and queued-lead job running");
            shutdown_signal().await;
            pipeline.shutdown().await;
            lead_sender.shutdown().await;
            if let Some(s) = gmail_sync {
                s.shutdown().await;
            }
            if let Some(job) = lead_routing {
                job.shutdown().await;
            }
            Ok(())
        }
        Command::Admin {
            command: Admin::CreateOrg { name },
        } => {
            let (org, secret) =
                bootstrap::create_org_with_key(&store, &state.hasher, &name).await?;
            println!(
                "{}",
                serde_json::json!({ "org_id": org.id, "api_key": secret.expose() })
            );
            Ok(())
        }
        Command::Admin {
            command: Admin::CreateApiKey { org, role, name },
        } => {
            let ctx = TenantContext::system(org, "admin");
            store
                .get_org(&ctx)
                .await
                .with_context(|| format!("org {org}"))?;
            let (key, secret) =
                bootstrap::issue_api_key(&store, &state.hasher, &ctx, &name, role).await?;
            println!(
                "{}",
                serde_json::json!({ "org_id": org, "api_key_id": key.id, "role": key.role, "api_key": secret.expose() })
            );
            Ok(())
        }
    }
}

fn spawn_pipeline(state: &AppState) -> anyhow::Result<workos_webhooks::worker::PipelineHandle> {
    let store = std::sync::Arc::new(state.store.clone());
    workos_webhooks::worker::Pipeline::spawn(
        store,
        state.cipher.clone(),
        state.webhook_config.clone(),
    )
    .context("starting the webhook pipeline")
}

/// The lead sender (deliveries of routed leads to partners).
fn spawn_lead_sender(state: &AppState) -> anyhow::Result<workos_webhooks::leads::LeadSenderHandle> {
    Ok(state
        .lead_sender()
        .context("starting the lead sender")?
        .spawn())
}

/// The Gmail sync scheduler, when Gmail is configured.
fn spawn_gmail_sync(
    state: &AppState,
) -> anyhow::Result<Option<workos_reference_server::gmail_sync::SchedulerHandle>> {
    use workos_reference_server::gmail_sync::{SchedulerConfig, spawn_scheduler};
    let config = SchedulerConfig::from_lookup(|name| std::env::var(name).ok())?;
    Ok(state
        .gmail
        .clone()
        .map(|gmail| spawn_scheduler(gmail, state.store.clone(), config)))
}

/// The queued-lead job, unless `WORKOS_LEAD_ROUTING_INTERVAL_SECS` is 0.
fn spawn_lead_routing(
    state: &AppState,
) -> Option<workos_reference_server::lead_routing::JobHandle> {
    state
        .lead_routing_interval
        .map(|every| workos_reference_server::lead_routing::spawn(state.store.clone(), every))
}

async fn run(state: AppState, bind: SocketAddr, webhook_workers: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("WORKOS_BIND: cannot listen on {bind}"))?;
    // The port the system chose, for WORKOS_BIND=…:0.
    let bind = listener.local_addr().unwrap_or(bind);
    if let Some((org, secret)) = bootstrap::first_run(&state.store, &state.hasher).await? {
        // Shown once: only its keyed hash is stored.
        eprintln!(
            "\n  Created a first org ({org}) and its owner API key (shown only now):\n\n    {key}\n\n  \
             Try it:\n\n    curl -H 'Authorization: Bearer {key}' http://{bind}/api/v1/people\n",
            key = secret.expose()
        );
    }
    let (pipeline, lead_sender) = if webhook_workers {
        (
            Some(spawn_pipeline(&state)?),
            Some(spawn_lead_sender(&state)?),
        )
    } else {
        (None, None)
    };
    let gmail_sync = spawn_gmail_sync(&state)?;
    let lead_routing = spawn_lead_routing(&state);
    tracing::info!(%bind, "listening");
    serve(listener, app(state), shutdown_signal()).await?;
    if let Some(job) = lead_routing {
        job.shutdown().await;
    }
    if let Some(pipeline) = pipeline {
        pipeline.shutdown().await;
    }
    if let Some(sender) = lead_sender {
        sender.shutdown().await;
    }
    if let Some(s) = gmail_sync {
        s.shutdown().await;
    }
    Ok(())
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
