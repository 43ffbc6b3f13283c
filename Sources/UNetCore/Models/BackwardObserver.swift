/// What `Network.backwardObserver` is told.
public protocol BackwardObserver: AnyObject {
    /// The backward has finished node `node`, and every node after it: their parameters' gradients are final.
    func backwardFinished(node: Int)
}
