//! `rustpx`: the Jupyter kernel for parallel Rust notebooks, and its installer.
//!
//! The kernel serves the Jupyter protocol, drives evcxr, rewrites the magics into Rust
//! and embeds the runtime crate (`rustpx`) that every notebook links; see `README.md`
//! beside this file for how output, errors and interrupts cross from evcxr's child.

mod build_dir;
mod cell_build;
mod child;
mod complete;
mod engines;
mod errors;
mod execute;
mod fdtap;
mod history;
mod install;
mod interrupt;
mod is_complete;
mod magics;
mod outbox;
mod output;
mod prebuild;
mod runtime_embed;
mod rustc_fix;
mod server;
mod session;
mod wire;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use install::Location;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "rustpx",
    version,
    about = "A Jupyter kernel for Rust with IPython-parallel-style workers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the "Rust (parallel)" kernelspec (default: for the current user) and build
    /// the runtime's dependencies, so the first notebook does not wait for them.
    Install {
        #[command(flatten)]
        target: Target,
        /// Only write the kernelspec; the first kernel then builds the runtime.
        #[arg(long)]
        no_build: bool,
    },
    /// Remove the kernelspec.
    Uninstall(Target),
    /// Run the kernel (what kernel.json starts).
    Kernel {
        /// The connection file written by the Jupyter client.
        #[arg(long)]
        connection_file: PathBuf,
    },
}

#[derive(Args)]
#[group(multiple = false)]
struct Target {
    /// The user's Jupyter data directory (the default).
    #[arg(long)]
    user: bool,
    /// The active Python environment.
    #[arg(long)]
    sys_prefix: bool,
    /// DIR/share/jupyter/kernels.
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
}

impl Target {
    fn location(&self) -> Location {
        match (&self.prefix, self.sys_prefix) {
            (Some(dir), _) => Location::Prefix(dir.clone()),
            (None, true) => Location::SysPrefix,
            _ => Location::User,
        }
    }
}

fn main() -> Result<()> {
    // evcxr re-runs this binary as cargo (see `cell_build`), as its rustc wrapper and as
    // the process that runs cells; each must be recognised before anything else happens.
    cell_build::intercept();
    rustc_fix::reexec_if_needed();
    engines::enter_if_engine_process();
    if child::is_child() {
        child::prepare();
    }
    evcxr::runtime_hook();

    let cli = Cli::parse();
    match cli.command {
        Command::Install { target, no_build } => {
            let dir = install::install(&target.location())?;
            println!("Installed the rustpx kernelspec in {}", dir.display());
            if !no_build {
                prebuild::run()?;
            }
        }
        Command::Uninstall(target) => {
            let dir = install::uninstall(&target.location())?;
            println!("Removed {}", dir.display());
        }
        Command::Kernel { connection_file } => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("RUSTPX_LOG")
                        .unwrap_or_else(|_| "warn".into()),
                )
                .init();
            let info = server::read_connection_file(&connection_file)?;
            // Held until exit: the build directory is this kernel's while it runs.
            let _build_dir = build_dir::claim()?;
            tokio::runtime::Runtime::new()?.block_on(server::serve(info))?;
        }
    }
    Ok(())
}
