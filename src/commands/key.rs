//! `attestd key show`: the bundle-signing key's public half and fingerprint, created
//! beside the database when missing. Never prints the private key.

use super::{database_path, CliError};
use crate::bundle::signing::HostKey;
use crate::cli::{Format, KeyArgs, KeyCommand};
use crate::config::Config;

pub fn run(args: KeyArgs) -> Result<i32, CliError> {
    let KeyCommand::Show(db) = args.command;
    let config = Config::load(db.config.config.as_deref()).ok();
    let database = database_path(db.db.as_deref(), config.as_ref());
    let key = HostKey::load_or_create(&database).map_err(CliError::Operational)?;
    let public = key
        .private_path
        .with_file_name(crate::bundle::signing::PUBLIC_FILE);
    match db.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "fingerprint": key.fingerprint(),
                "public_key_pem": key.public_pem(),
                "public_key_file": public,
                "private_key_file": key.private_path,
                "created": key.created,
            }))
            .expect("JSON")
        ),
        Format::Text => {
            if key.created {
                println!("created a new signing key: {}", key.private_path.display());
            }
            print!("{}", key.public_pem());
            println!("fingerprint: {}", key.fingerprint());
            println!("public key:  {}", public.display());
            println!(
                "private key: {} (mode 0600, never leaves this host)",
                key.private_path.display()
            );
        }
    }
    Ok(0)
}
