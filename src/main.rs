fn main() -> std::process::ExitCode {
    martsync::cli::main()
}
