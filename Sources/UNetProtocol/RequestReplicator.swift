/// Hands each request the host's engine runs to the other processes of a data-parallel job, so that every rank
/// executes the same requests in the same order (`unet-engine --mpi`: rank 0 reads the protocol, the other
/// ranks follow). The dispatcher calls it on its worker thread, just before running each numeric request.
public protocol RequestReplicator: AnyObject {
    /// Shares `request` with the other ranks (blocks until they have it).
    func share(_ request: Request)
    /// Tells the other ranks that no request follows: they finish and exit.
    func shareEnd()
}

enum Replication {
    /// Methods that change nothing in the session and make no collective call: rank 0 runs them alone (inference
    /// on the other ranks would only repeat its work, and `segment` would write its files N times). `evaluate` is
    /// not one: every rank scores its share of the batches and they gather the scores.
    static let rankZeroOnly: Set<String> = [
        "predict", "segment", "explain", "model.summary", "dataset.sample", "dataset.files", "dataset.list",
        "debug.sleep",
    ]
}

extension Request {
    /// The request as one JSON-RPC message, as the host sent it (without anything the dispatcher added).
    var message: JSONValue {
        var o: JSONObject = ["jsonrpc": "2.0", "method": .string(method), "params": .object(params)]
        if let id { o["id"] = id.json }
        return .object(o)
    }
}
