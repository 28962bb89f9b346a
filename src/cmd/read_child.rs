//! `caregate read-child`: the child process a worker starts to read one file (see
//! `caregate_workers::read`). Prints the analysis as JSON; exit 0 whatever the file.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    media_type: String,
    #[arg(long)]
    xml_root: Option<String>,
    /// The extraction limits, as JSON.
    #[arg(long)]
    limits: String,
    path: PathBuf,
    /// The file's name as submitted.
    name: String,
}

pub fn run(args: Args) -> ExitCode {
    let limits: caregate_extract::Limits = match serde_json::from_str(&args.limits) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("read-child: bad --limits: {e}");
            return ExitCode::from(2);
        }
    };
    match caregate_workers::read::read_child(&args.path, &args.name, &args.media_type, args.xml_root.as_deref(), &limits) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read-child: writing the answer: {e}");
            ExitCode::from(2)
        }
    }
}
