import UNetCore
import UNetData

/// Parameters several methods declare alike: the images of `predict`, `segment`, `explain` and how they are
/// decoded (also `dataset.open`'s `window` and `frame`), `harmonize` and `postprocess`.
enum SharedParams {
    static let images = Param.json(
        "images",
        schema: [
            "type": "array", "items": .object(Param<JSONValue>.ref("Image")), "minItems": 1,
            "maxItems": JSONValue(ImageInput.maximumImages),
        ]
    ).required
    static let resize = Param.boolean(
        "resize",
        "bring every image (path, jpeg, png or array) to the model's input height and width, as training does "
            + "(default true); false runs a unet at the image's own size")
    static let batchSize = Param.integer(
        "batch_size", in: 1...ImageInput.maximumImages,
        "images per forward: consecutive images of one size run together (default 4, at most 2^18 pixels per "
            + "batch; 2^22 when given)")
    /// Read by `ParamsReader.decodeOptions`, which checks the two forms.
    static let window = Param.json(
        "window", schema: Param<JSONValue>.ref("Window"),
        "windowing of deep images (16-bit PNG, uint16 arrays, DICOM); default: a DICOM's own window (else min-max), "
            + "for other files the full scale of the bits they declare (PNG sBIT) or use")
    static let frame = Param.integer(
        "frame", in: 0...65_535, default: 0,
        "the frame of a multi-frame DICOM; -32002 when the file has fewer")
    static let includePatientID = Param.boolean(
        "include_patient_id", default: false, "add PatientID to the dicom tags of each DICOM image's result")
    /// Read by `TestTimeAugmentation.read`, which needs the model to check the views.
    static let tta = Param.json(
        "tta",
        schema: [
            "type": "array", "maxItems": 16,
            "items": ["type": "string", "pattern": "^(hflip|vflip|scale:.+)$"],
        ],
        "test-time augmentation: the plain forward plus one view per item (\"hflip\", \"vflip\", \"scale:F1,F2,...\" "
            + "with factors in 0.25...4, unet only), probabilities brought back to the image's geometry and averaged "
            + "(default none)")
    static let inferenceHarmonize = Param.declared(
        "harmonize", schema: Param<Harmonization>.ref("Harmonize"),
        "overrides the preprocessing the session's dataset or checkpoint set ({} for none); default: that one",
        read: HarmonizeParams.read)

    static func postprocess(_ doc: String) -> DefaultedParam<MaskPostprocessing> {
        Param.declared(
            "postprocess", schema: Param<MaskPostprocessing>.ref("Postprocess"), doc,
            read: PostprocessParams.read
        )
        .defaulting(to: MaskPostprocessing())
    }

    /// `resize` ... `include_patient_id`: how every inference method's images are read and batched
    /// (`InferenceMethods.forEachBatch`), after its `images`.
    static let decoding: [ParamDeclaration] = [resize, batchSize, window, frame, includePatientID]
}
