// mimalloc rather than the system allocator: the mapping and pull paths allocate many small,
// short-lived values (JSON maps, strings), where glibc's malloc spent 30-40% of the mapping's
// CPU time. Built without transparent huge pages, which kept a pull's peak RSS 40 MB higher.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ahead_sync::main()
}
