/// Element and byte counts computed from sizes that come from outside (file headers, request params), where a
/// plain `*` traps on overflow and kills the process: `[2147483648, 2147483648, 2147483648]` is a valid-looking
/// shape whose product does not fit an `Int`.
public enum CheckedSize {
    /// The product of `factors`, or nil when any is negative or the product overflows.
    public static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, overflow) = p.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            p = r
        }
        return p
    }

    public static func product(_ factors: Int...) -> Int? { product(factors) }
}
