import IsolaCLI

/// The `isola` executable: a thin entry point over the IsolaCLI library.
/// (Not `main.swift`: a top-level `await` there fails at run time with the argument parser.)
@main
struct Entry {
    static func main() async {
        await IsolaCommand.start()
    }
}
