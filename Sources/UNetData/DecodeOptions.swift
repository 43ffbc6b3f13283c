/// What a request may say about reading one image beyond its size and channels: how deep samples are windowed
/// onto 0...255, and which frame of a multi-frame file is read. Masks never take these (they are 8-bit labels).
public struct DecodeOptions: Equatable, Sendable {
    /// `nil`: the file's own choice (a DICOM's window, else the full scale of its bits).
    public var window: Window?
    /// Frame of a multi-frame DICOM (0 for every other file).
    public var frame: Int
    /// Report a DICOM's PatientID with its other tags (off by default: identifying data stays out of results).
    public var patientID: Bool

    public init(window: Window? = nil, frame: Int = 0, patientID: Bool = false) {
        self.window = window
        self.frame = frame
        self.patientID = patientID
    }
}
