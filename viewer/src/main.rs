//! `rheo-viewer [SCENE | TASK]`: the viewer window on its own (`rheo view` is the same).

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    let file = args.next().map(std::path::PathBuf::from);
    if args.next().is_some() || file.as_ref().is_some_and(|f| f.to_str().is_some_and(|s| s.starts_with('-'))) {
        eprintln!("usage: rheo-viewer [SCENE | TASK]");
        return std::process::ExitCode::FAILURE;
    }
    match rheo_viewer::run(file) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
