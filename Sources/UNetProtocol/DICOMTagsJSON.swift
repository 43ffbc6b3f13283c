import UNetData

extension DICOMTags {
    /// The `dicom` object of a `predict` or `segment` result entry, named as the DICOM keywords, so a host joins
    /// results back to its studies. Absent tags are null; `PatientID` appears only when the request asked for it.
    var json: JSONValue {
        var o: JSONObject = [
            "StudyInstanceUID": studyInstanceUID.map(JSONValue.string) ?? .null,
            "SOPInstanceUID": sopInstanceUID.map(JSONValue.string) ?? .null,
            "PhotometricInterpretation": .string(photometricInterpretation),
            "PixelSpacing": pixelSpacing.map { .array($0.map(JSONValue.double)) } ?? .null,
            "Rows": JSONValue(rows), "Columns": JSONValue(columns), "BitsStored": JSONValue(bitsStored),
            "ViewPosition": viewPosition.map(JSONValue.string) ?? .null,
            "NumberOfFrames": JSONValue(frames), "TransferSyntaxUID": .string(transferSyntax),
        ]
        if let patientID { o["PatientID"] = .string(patientID) }
        return .object(o)
    }
}
