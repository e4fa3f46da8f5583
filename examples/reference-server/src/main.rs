//! `workos-server`: runs the reference server, or an admin command.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use workos_core::ids::OrgId;
use workos_core::repo::OrgRepo;
use workos_core::tenant::{Role, TenantContext};
use workos_reference_server::config::{Config, DatabaseConfig, MIGRATE_COMMAND};
use workos_reference_server::state::AppState;
use workos_reference_server::workers::Workers;
use workos_reference_server::{
    ReadTimeouts, admin_app, allowed_subnets, app, bootstrap, cache_sync, serve_with,
    shutdown_signal,
};
use workos_store::deploy;

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
    /// Re-seal every secret at rest (Gmail and Twilio credentials, webhook, partner and form
    /// secrets, OAuth states) with WORKOS_ENCRYPTION_KEY, opening the old ones with
    /// WORKOS_ENCRYPTION_KEY_PREVIOUS. Prints progress on stderr and a report per column;
    /// resumable: run it again after an interruption.
    Reencrypt,
    /// Allow an org's webhook endpoints and webhook partners to reach private subnets (on top
    /// of WORKOS_WEBHOOK_ALLOWED_SUBNETS, for this org only). Prints {"org_id",
    /// "allowed_subnets"}.
    AllowSubnets {
        /// The org.
        #[arg(long)]
        org: OrgId,
        /// A subnet in CIDR notation (e.g. 10.1.0.0/16) or one IP address; repeatable.
        #[arg(long = "cidr", required = true)]
        cidrs: Vec<String>,
    },
    /// Print an org's allowed subnets: {"org_id", "allowed_subnets"}.
    ListSubnets {
        /// The org.
        #[arg(long)]
        org: OrgId,
    },
    /// Revoke subnets from an org's allowance; fails, revoking nothing, when one of them is not
    /// allowed. Applies at once in every process. Prints {"org_id", "allowed_subnets"}.
    RevokeSubnets {
        /// The org.
        #[arg(long)]
        org: OrgId,
        /// A subnet as it was allowed; repeatable.
        #[arg(long = "cidr", required = true)]
        cidrs: Vec<String>,
    },
    /// Map a phone number to an org: one of the platform's Twilio account (or of the org's
    /// own), checked with Twilio, which also gives its capabilities. Prints the phone.
    #[cfg(feature = "twilio")]
    AssignPhone {
        /// The org.
        #[arg(long)]
        org: OrgId,
        /// The number in E.164, e.g. +14155550100.
        #[arg(long)]
        number: String,
        /// A label for the number.
        #[arg(long)]
        label: Option<String>,
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
        let db = DatabaseConfig::from_lookup(|name| std::env::var(name).ok())?;
        init_tracing(&std::env::var("WORKOS_LOG").unwrap_or_else(|_| "info".into()));
        let applied = deploy::migrate(&db).await?;
        print!("{}", deploy::report(&applied));
        return Ok(());
    }
    let config = Config::from_env()?;
    init_tracing(&config.log);

    let store = deploy::open(&config.database, MIGRATE_COMMAND).await?;
    let bind = config.bind;
    let deadline = config.shutdown_timeout;
    let read_timeouts = config.read_timeouts;
    let production = config.production;
    let state = AppState::new(store.clone(), config);
    if !matches!(command, Command::Admin { .. }) {
        // Caches hear of other processes' writes (revoked keys, moved numbers, accounts).
        cache_sync::spawn(&state);
    }

    match command {
        Command::Serve { no_webhook_workers } => {
            run(
                state,
                bind,
                !no_webhook_workers,
                (deadline, read_timeouts),
                production,
            )
            .await
        }
        // Answered above, before the configuration is read.
        Command::Migrate => Ok(()),
        Command::Worker => {
            let stop = shutdown_signal();
            let workers = Workers::start(&state, true)?;
            tracing::info!("background workers running");
            stop.await;
            within_deadline(deadline, workers.shutdown()).await;
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
        Command::Admin {
            command: Admin::Reencrypt,
        } => {
            let report = workos_reference_server::reencrypt::reencrypt(
                &store,
                &state.cipher,
                &mut std::io::stderr(),
            )
            .await?;
            println!("{}", serde_json::json!({ "columns": report }));
            Ok(())
        }
        Command::Admin {
            command: Admin::AllowSubnets { org, cidrs },
        } => {
            let change = allowed_subnets::Change::Allow(allowed_subnets::parse_cidrs(&cidrs)?);
            println!("{}", allowed_subnets::run(&store, org, change).await?);
            Ok(())
        }
        Command::Admin {
            command: Admin::ListSubnets { org },
        } => {
            let change = allowed_subnets::Change::List;
            println!("{}", allowed_subnets::run(&store, org, change).await?);
            Ok(())
        }
        Command::Admin {
            command: Admin::RevokeSubnets { org, cidrs },
        } => {
            let change = allowed_subnets::Change::Revoke(allowed_subnets::parse_cidrs(&cidrs)?);
            println!("{}", allowed_subnets::run(&store, org, change).await?);
            Ok(())
        }
        #[cfg(feature = "twilio")]
        Command::Admin {
            command: Admin::AssignPhone { org, number, label },
        } => {
            let ctx = TenantContext::system(org, "admin");
            store
                .get_org(&ctx)
                .await
                .with_context(|| format!("org {org}"))?;
            let number = workos_core::domain::E164::parse(&number)
                .map_err(|_| anyhow::anyhow!("--number: not a valid E.164 phone number"))?;
            let request = workos_core::domain::RegisterPhone {
                number,
                provider: "twilio".to_owned(),
                label,
            };
            let phone = state
                .twilio
                .assign_phone(org, request)
                .await
                .context("assign-phone")?;
            println!("{}", serde_json::to_string(&phone)?);
            Ok(())
        }
    }
}

async fn run(
    state: AppState,
    bind: SocketAddr,
    webhook_workers: bool,
    (deadline, read_timeouts): (Duration, ReadTimeouts),
    production: bool,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("WORKOS_BIND: cannot listen on {bind}"))?;
    // The port the system chose, for WORKOS_BIND=…:0.
    let bind = listener.local_addr().unwrap_or(bind);
    let first_run = if production {
        None
    } else {
        bootstrap::first_run(&state.store, &state.hasher).await?
    };
    if let Some((org, secret)) = first_run {
        // Shown once: only its keyed hash is stored.
        eprintln!(
            "\n  Created a first org ({org}) and its owner API key (shown only now):\n\n    {key}\n\n  \
             Try it:\n\n    curl -H 'Authorization: Bearer {key}' http://{bind}/api/v1/people\n",
            key = secret.expose()
        );
    }
    let admin = match state.admin_bind {
        Some(admin_bind) => {
            let admin_listener = tokio::net::TcpListener::bind(admin_bind)
                .await
                .with_context(|| format!("WORKOS_ADMIN_BIND: cannot listen on {admin_bind}"))?;
            let admin_bind = admin_listener.local_addr().unwrap_or(admin_bind);
            tracing::info!(%admin_bind, "admin listening");
            Some(tokio::spawn(serve_with(
                admin_listener,
                admin_app(state.clone()),
                shutdown_signal(),
                read_timeouts,
            )))
        }
        None => None,
    };
    // Installed before any work starts, so a SIGTERM from now on always stops gracefully.
    let signal = shutdown_signal();
    let workers = Workers::start(&state, webhook_workers)?;
    tracing::info!(%bind, "listening");
    // On SIGTERM or ctrl-c the server stops accepting and finishes its in-flight requests
    // while the workers stop (handing back what they claimed), together, within `deadline`.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut server = tokio::spawn(serve_with(
        listener,
        app(state),
        async move {
            signal.await;
            let _ = stopping.send(true);
        },
        read_timeouts,
    ));
    let mut stop_seen = stop.clone();
    // Biased: once the signal is seen the workers must be stopped too, even when the server,
    // with nothing in flight, finished in the same instant (an unbiased pick then returned early
    // and dropped the workers mid-hand-back). The server alone ending first is a failure.
    tokio::select! {
        biased;
        _ = stop_seen.wait_for(|s| *s) => {}
        served = &mut server => return Ok(served??),
    }
    within_deadline(deadline, async move {
        let (served, ()) = tokio::join!(server, workers.shutdown());
        match served {
            Ok(Err(e)) => tracing::error!(error = %e, "the server failed while stopping"),
            Err(e) => tracing::error!(error = %e, "the server task failed while stopping"),
            Ok(Ok(())) => {}
        }
    })
    .await;
    drop(stop);
    // Metrics are served until the end; the scraper needs no goodbye.
    if let Some(admin) = admin {
        admin.abort();
    }
    Ok(())
}

/// Runs `stopping` (the process's shutdown) for at most `deadline`
/// (`WORKOS_SHUTDOWN_TIMEOUT_SECS`): past it the process exits at once with status 1, cutting
/// short what is left (requests still running are cut off and their transactions roll back;
/// deliveries still leased are sent again once their lease ends).
async fn within_deadline(deadline: Duration, stopping: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(deadline, stopping).await.is_ok() {
        tracing::info!("stopped");
        return;
    }
    tracing::warn!(
        timeout_secs = deadline.as_secs(),
        "shutdown deadline (WORKOS_SHUTDOWN_TIMEOUT_SECS) passed; exiting with work cut short"
    );
    // Not through the runtime's own shutdown, which would wait for blocking tasks.
    std::process::exit(1);
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
