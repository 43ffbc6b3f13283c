import UNetCore

/// Finds an open dataset by name for the training and evaluation methods.
enum DatasetLookup {
    static func source(_ session: Session, name: String, field: String) throws -> BatchSource {
        guard let d = DatasetMethods.store(session).datasets[name] else {
            throw RPCError.invalidParams(field: field, reason: "no dataset named \(name) is open (dataset.open first)")
        }
        return d
    }
}
