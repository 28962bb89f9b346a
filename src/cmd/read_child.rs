//! `caregate read-child`: the child process a worker starts to read files (see
//! `caregate_workers::read`). With `--serve`, reads the files asked on its standard
//! input until it closes; otherwise reads the one file named and prints its analysis as
//! JSON. Exit 0 whatever the file.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Read file after file, as asked on standard input (one JSON request a line).
    #[arg(long, conflicts_with_all = ["media_type", "xml_root", "limits", "establishment", "path", "name"])]
    serve: bool,
    #[arg(long, required_unless_present = "serve")]
    media_type: Option<String>,
    #[arg(long)]
    xml_root: Option<String>,
    /// The extraction limits, as JSON.
    #[arg(long, required_unless_present = "serve")]
    limits: Option<String>,
    /// The submitting establishment's own identifiers, as JSON: never a seller's.
    #[arg(long)]
    establishment: Option<String>,
    #[arg(required_unless_present = "serve")]
    path: Option<PathBuf>,
    /// The file's name as submitted.
    #[arg(required_unless_present = "serve")]
    name: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    if args.serve {
        return match caregate_workers::read::serve_child() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("read-child: {e}");
                ExitCode::from(2)
            }
        };
    }
    let (Some(media_type), Some(limits), Some(path), Some(name)) = (args.media_type, args.limits, args.path, args.name) else {
        eprintln!("read-child: --media-type, --limits, the path and the name are needed");
        return ExitCode::from(2);
    };
    let limits: caregate_extract::Limits = match serde_json::from_str(&limits) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("read-child: bad --limits: {e}");
            return ExitCode::from(2);
        }
    };
    let own: caregate_schemas::EstablishmentIdentifiers = match args.establishment.as_deref().map(serde_json::from_str).transpose() {
        Ok(own) => own.unwrap_or_default(),
        Err(e) => {
            eprintln!("read-child: bad --establishment: {e}");
            return ExitCode::from(2);
        }
    };
    match caregate_workers::read::read_child(&path, &name, &media_type, args.xml_root.as_deref(), &limits, &own) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read-child: writing the answer: {e}");
            ExitCode::from(2)
        }
    }
}
