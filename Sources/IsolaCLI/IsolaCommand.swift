import ArgumentParser

/// `isola`: the server and a client for it, with verbs that mirror `aws lambda`.
public struct IsolaCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "isola",
        abstract: "A self-hosted, Lambda-compatible platform that runs every tenant in its own sandbox.",
        discussion: """
            Start a server, then use the real aws CLI or boto3 against it, or the client commands here.

            Examples:
              isola serve
              aws lambda list-functions --endpoint-url http://127.0.0.1:9000
              isola functions
              isola invoke my-function --tenant blue --payload '{"hello": "world"}'
            """,
        subcommands: [
            ServeCommand.self, FunctionsCommand.self, InvokeCommand.self, LogsCommand.self, UsageCommand.self, FailedEventsCommand.self,
            CreateRouteCommand.self, RoutesCommand.self, DeleteRouteCommand.self,
        ]
    )

    public init() {}

    /// How many event-loop threads `isola serve --event-loops N` asks for (half the CPUs by default, at least one).
    public static func eventLoopCount(arguments: [String]) -> Int {
        ServeCommand.eventLoopCount(arguments: arguments)
    }

    /// Parses the process's arguments and runs the command (what the executable calls).
    public static func start() async {
        await main()
    }
}
