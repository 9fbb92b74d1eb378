/// A `Duration` as a floating-point count, written once instead of at every place that logs or schedules one.
extension Duration {
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    public var inMilliseconds: Double { inSeconds * 1000 }
}
