import UNetCore

/// `train.configure`'s `lr_schedule` object, read into a `LearningRateSchedule` and answered back in the same form.
/// Every count must be positive (a warm-up may be 0) and every factor in its range, so a bad schedule is -32602
/// naming `lr_schedule.<field>` and the configuration in force stays as it was.
enum LRScheduleParams {
    static let types = ["constant", "step", "exponential", "cosine", "one_cycle", "polynomial"]
    static let positive = 1...Int(Int32.max)

    static func read(_ r: ParamsReader) throws -> LearningRateSchedule {
        let type = try r.requiredString("type", oneOf: types)
        let unit = LearningRateSchedule.Unit(rawValue: try r.string("by", default: "step", oneOf: ["step", "epoch"]))!
        let shape: LearningRateSchedule.Shape
        switch type {
        case "step":
            shape = .step(
                stepSize: try r.requiredInt("step_size", in: positive),
                gamma: try r.double("gamma", default: 0.1, in: 0...1e6))
        case "exponential":
            shape = .exponential(
                decaySteps: try r.int("decay_steps", default: 1, in: positive),
                decayRate: try positiveDouble(r, "decay_rate", required: true, in: 0...1e6),
                staircase: try r.bool("staircase", default: false))
        case "cosine":
            shape = .cosine(
                decaySteps: try r.requiredInt("decay_steps", in: positive),
                alpha: try r.double("alpha", default: 0, in: 0...1),
                warmupSteps: try r.int("warmup_steps", default: 0, in: 0...Int(Int32.max)),
                warmupStartFactor: try r.double("warmup_start_factor", default: 0, in: 0...1))
        case "one_cycle":
            let total = try r.requiredInt("total_steps", in: 2...Int(Int32.max))
            let pctStart = try r.double("pct_start", default: 0.3, in: 0...1)
            let peak = pctStart * Double(total) - 1
            guard peak > 0, peak < Double(total - 1) else {
                throw r.invalid(
                    "pct_start",
                    "must put the peak, step pct_start·total_steps − 1, after step 0 and before "
                        + "the last step \(total - 1); got \(peak)")
            }
            shape = .oneCycle(
                totalSteps: total, pctStart: pctStart,
                divFactor: try positiveDouble(r, "div_factor", default: 25, in: 0...1e12),
                finalDivFactor: try positiveDouble(r, "final_div_factor", default: 1e4, in: 0...1e12),
                linear: try r.string("anneal", default: "cos", oneOf: ["cos", "linear"]) == "linear")
        case "polynomial":
            shape = .polynomial(
                decaySteps: try r.requiredInt("decay_steps", in: positive),
                power: try positiveDouble(r, "power", default: 0.9, in: 0...1e3),
                endLearningRate: try r.double("end_learning_rate", default: 0, in: 0...1e12))
        default:
            shape = .constant
        }
        try r.finish()
        return LearningRateSchedule(shape, unit: unit)
    }

    private static func positiveDouble(
        _ r: ParamsReader, _ key: String, default d: Double = 0, required: Bool = false,
        in range: ClosedRange<Double>
    ) throws -> Double {
        guard let x = try r.double(key, in: range) else {
            if required { throw r.invalid(key, "is required") }
            return d
        }
        guard x > 0 else { throw r.invalid(key, "must be positive, got \(x)") }
        return x
    }

    /// The schedule as `train.configure` takes it, every parameter spelled out.
    static func json(_ s: LearningRateSchedule) -> JSONValue {
        var o: JSONObject
        switch s.shape {
        case .constant: o = ["type": "constant"]
        case let .step(stepSize, gamma):
            o = ["type": "step", "step_size": JSONValue(stepSize), "gamma": JSONValue(gamma)]
        case let .exponential(decaySteps, decayRate, staircase):
            o = [
                "type": "exponential", "decay_steps": JSONValue(decaySteps), "decay_rate": JSONValue(decayRate),
                "staircase": .bool(staircase),
            ]
        case let .cosine(decaySteps, alpha, warmupSteps, start):
            o = [
                "type": "cosine", "decay_steps": JSONValue(decaySteps), "alpha": JSONValue(alpha),
                "warmup_steps": JSONValue(warmupSteps), "warmup_start_factor": JSONValue(start),
            ]
        case let .oneCycle(totalSteps, pctStart, divFactor, finalDivFactor, linear):
            o = [
                "type": "one_cycle", "total_steps": JSONValue(totalSteps), "pct_start": JSONValue(pctStart),
                "div_factor": JSONValue(divFactor), "final_div_factor": JSONValue(finalDivFactor),
                "anneal": .string(linear ? "linear" : "cos"),
            ]
        case let .polynomial(decaySteps, power, end):
            o = [
                "type": "polynomial", "decay_steps": JSONValue(decaySteps), "power": JSONValue(power),
                "end_learning_rate": JSONValue(end),
            ]
        }
        o["by"] = .string(s.unit.rawValue)
        return .object(o)
    }
}
