import UNetData

extension ParamsReader {
    /// The `window` and `frame` params shared by `predict`, `segment` and `dataset.open`: `window` is
    /// `[center, width]` (width > 0, in the file's units: 16-bit sample values, DICOM modality values),
    /// `"pLOW-pHIGH"` percentiles or `"minmax"`; `frame` picks the frame of a multi-frame DICOM;
    /// `include_patient_id` (inference only, `withPatientID`) adds PatientID to the DICOM tags of each result.
    func decodeOptions(withPatientID: Bool = false) throws -> DecodeOptions {
        var options = DecodeOptions(frame: try self[SharedParams.frame])
        if withPatientID { options.patientID = try self[SharedParams.includePatientID] }
        guard let v = try self[SharedParams.window] else { return options }
        if let text = v.stringValue {
            guard let window = Window(text: text) else {
                throw invalid(
                    "window", "must be [center, width], \"minmax\" or percentiles like \"p1-p99\", got \"\(text)\"")
            }
            options.window = window
        } else if let pair = v.arrayValue, pair.count == 2, let center = pair[0].doubleValue,
            let width = pair[1].doubleValue, center.isFinite, width.isFinite
        {
            guard width > 0 else { throw invalid("window", "width must be positive, got \(width)") }
            options.window = .centerWidth(center: center, width: width)
        } else {
            throw invalid(
                "window", "must be [center, width], \"minmax\" or percentiles like \"p1-p99\", got \(v.typeName)")
        }
        return options
    }
}
