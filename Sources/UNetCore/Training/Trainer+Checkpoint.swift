import Foundation
import UNetJSON

/// A training session's position and settings, stored in a checkpoint's metadata (`unet_engine.training`) so that
/// a run resumed from the file repeats, loss for loss, what followed the save.
///
/// Written and read through jansson (`JSONValueCoding`), like every other metadata entry. The dropout generators'
/// state words are UInt64 values beyond Int64, which a JSON integer in jansson cannot hold, so they are written as
/// 16 hexadecimal digits. Checkpoints written before that (by Foundation's coder) hold them as bare integers: those
/// are read exactly by `LegacyStateWords`, not through a double.
public struct TrainingState: Codable, Equatable {
    public var config: TrainingConfig
    public var classWeights: [Float]?
    public var epoch: Int
    public var batchInEpoch: Int
    /// The generator state of every Dropout (and DropPath: every `StochasticLayer`), in network order.
    public var dropoutStates: [[UInt64]]

    enum CodingKeys: String, CodingKey {
        case config, classWeights = "class_weights", epoch, batchInEpoch = "batch_in_epoch"
        case dropoutStates = "dropout_states"
    }

    public init(
        config: TrainingConfig, classWeights: [Float]?, epoch: Int, batchInEpoch: Int,
        dropoutStates: [[UInt64]]
    ) {
        self.config = config
        self.classWeights = classWeights
        self.epoch = epoch
        self.batchInEpoch = batchInEpoch
        self.dropoutStates = dropoutStates
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encodeIfPresent(classWeights, forKey: .classWeights)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(batchInEpoch, forKey: .batchInEpoch)
        try c.encode(dropoutStates.map { $0.map(Self.hex) }, forKey: .dropoutStates)
    }

    /// Decodes the words from their hexadecimal form. The legacy integer form is left empty here and filled in
    /// from the text by `decode(text:)`, which alone can read those integers exactly.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        config = try c.decode(TrainingConfig.self, forKey: .config)
        classWeights = try c.decodeIfPresent([Float].self, forKey: .classWeights)
        epoch = try c.decode(Int.self, forKey: .epoch)
        batchInEpoch = try c.decode(Int.self, forKey: .batchInEpoch)
        var states = try c.nestedUnkeyedContainer(forKey: .dropoutStates)
        var words: [[UInt64]] = []
        while !states.isAtEnd {
            var state = try states.nestedUnkeyedContainer()
            var row: [UInt64] = []
            while !state.isAtEnd {
                guard let text = try? state.decode(String.self) else {
                    // A legacy integer word: the whole list is read from the text instead.
                    self.dropoutStates = []
                    self.legacyWords = true
                    return
                }
                guard text.count == 16, let w = UInt64(text, radix: 16) else {
                    throw DecodingError.dataCorruptedError(
                        in: state, debugDescription: "a dropout state word must be 16 hexadecimal digits, got \(text)")
                }
                row.append(w)
            }
            words.append(row)
        }
        dropoutStates = words
    }

    /// Set while decoding when the words are the legacy integers.
    private var legacyWords = false

    public static func == (a: TrainingState, b: TrainingState) -> Bool {
        a.config == b.config && a.classWeights == b.classWeights && a.epoch == b.epoch
            && a.batchInEpoch == b.batchInEpoch && a.dropoutStates == b.dropoutStates
    }

    static func hex(_ w: UInt64) -> String {
        let digits = String(w, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The metadata text of this state (jansson, key-sorted).
    public var text: String {
        get throws { try JSONValueCoding.text(self) }
    }

    /// The state a checkpoint's metadata text describes, with legacy integer words read exactly.
    public static func decode(text: String) throws -> TrainingState {
        var s = try JSONValueCoding.decode(TrainingState.self, fromText: text)
        if s.legacyWords {
            s.dropoutStates = try LegacyStateWords.read(text)
            s.legacyWords = false
        }
        return s
    }
}

/// The `dropout_states` of a checkpoint written by Foundation's JSONEncoder: arrays of bare unsigned integers up
/// to 2^64 - 1, which jansson would read as doubles (losing the low bits). Scans just that array in the text.
enum LegacyStateWords {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func read(_ text: String) throws -> [[UInt64]] {
        let bytes = Array(text.utf8)
        let key = Array("\"dropout_states\"".utf8)
        guard
            let at = (0...max(0, bytes.count - key.count)).first(where: {
                bytes[$0..<min(bytes.count, $0 + key.count)].elementsEqual(key)
            })
        else { throw Failure(description: "no dropout_states in the training state") }
        var i = at + key.count
        func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 {
                i += 1
            }
        }
        func expect(_ c: UInt8) throws {
            skipSpace()
            guard i < bytes.count, bytes[i] == c else { throw Failure(description: "malformed dropout_states") }
            i += 1
        }
        func peek() -> UInt8? { skipSpace(); return i < bytes.count ? bytes[i] : nil }
        func list<T>(_ item: () throws -> T) throws -> [T] {
            try expect(UInt8(ascii: "["))
            var out: [T] = []
            if peek() == UInt8(ascii: "]") { i += 1; return out }
            while true {
                out.append(try item())
                if peek() == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "]"))
                return out
            }
        }
        try expect(UInt8(ascii: ":"))
        return try list {
            try list {
                skipSpace()
                let start = i
                while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
                guard let w = UInt64(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                    throw Failure(description: "a dropout state word is not an unsigned 64-bit integer")
                }
                return w
            }
        }
    }
}

extension Trainer {
    public static let stateKey = "unet_engine.training"

    public var state: TrainingState {
        TrainingState(
            config: config, classWeights: classWeights, epoch: epoch, batchInEpoch: batchInEpoch,
            dropoutStates: model.network.nodes.compactMap { ($0.layer as? StochasticLayer)?.rng.stateWords })
    }

    /// Saves weights, optimizer state and the training state atomically; returns the bytes written.
    @discardableResult
    public func save(to path: String, extraMetadata: [String: String] = [:]) throws -> Int {
        var meta = extraMetadata
        meta[Trainer.stateKey] = try state.text
        return try Checkpoint.save(model: model, optimizer: optimizer, to: path, extraMetadata: meta)
    }

    /// The trainer a checkpoint describes, or nil when it holds no training state (a bare model).
    public static func restore(from contents: Checkpoint.Contents) throws -> Trainer? {
        guard let json = contents.metadata[stateKey] else { return nil }
        let s: TrainingState
        do { s = try TrainingState.decode(text: json) } catch {
            throw CheckpointError.invalid("checkpoint", "the training state in the metadata cannot be read: \(error)")
        }
        let trainer = Trainer(model: contents.model, config: s.config, optimizer: contents.optimizer)
        trainer.classWeights = s.classWeights
        trainer.epoch = s.epoch
        trainer.batchInEpoch = s.batchInEpoch
        let dropouts = contents.model.network.nodes.compactMap { $0.layer as? StochasticLayer }
        for (layer, words) in zip(dropouts, s.dropoutStates) where words.count == 4 {
            layer.rng = RandomGenerator(state: words)
        }
        return trainer
    }

    /// Changes the settings that may change mid-run (learning rate, loss, class weights, batch size, augmentation).
    public func reconfigure(_ new: TrainingConfig) {
        config = new
        optimizer.learningRate = new.learningRate
        learningRateScale = 1
        classWeights = new.classWeights
    }
}
