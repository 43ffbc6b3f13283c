// DCMTK behind the C API of CDICOM.h. See the header for what each call promises.

#include "CDICOM.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>

struct cdicom_file {
    DcmFileFormat format;
    E_TransferSyntax original = EXS_Unknown;
    bool decompressed = false;
};

namespace {

std::once_flag codecsOnce;

/// The RLE, JPEG (baseline, extended, lossless) and JPEG-LS decoders, registered once per process; DCMTK's own
/// logging is silenced (its warnings would go to stderr for every odd file; the caller reports failures).
void registerCodecs() {
    std::call_once(codecsOnce, [] {
        OFLog::configure(OFLogger::OFF_LOG_LEVEL);
        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
    });
}

void say(char *message, size_t size, const char *text) {
    if (message && size) std::snprintf(message, size, "%s", text);
}

int uint16Of(DcmDataset *ds, const DcmTagKey &key, int fallback) {
    Uint16 v = 0;
    return ds->findAndGetUint16(key, v).good() ? int(v) : fallback;
}

}  // namespace

extern "C" cdicom_file *cdicom_open(const void *bytes, size_t count, int *status, char *message,
                                    size_t message_size) {
    registerCodecs();
    cdicom_file *file = new (std::nothrow) cdicom_file;
    if (!file) {
        *status = CDICOM_CORRUPT;
        say(message, message_size, "out of memory");
        return nullptr;
    }
    DcmInputBufferStream stream;
    stream.setBuffer(bytes, offile_off_t(count));
    stream.setEos();
    file->format.transferInit();
    OFCondition cond = file->format.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file->format.transferEnd();
    if (cond.bad()) {
        // A buffer that ends inside an element reads as "need more data" or as an invalid stream.
        bool ended = cond == EC_StreamNotifyClient || cond == EC_EndOfStream || cond == EC_InvalidStream;
        *status = ended ? CDICOM_TRUNCATED : CDICOM_CORRUPT;
        char text[200];
        std::snprintf(text, sizeof text, "%s%s", ended ? "the file ends inside an element: " : "", cond.text());
        say(message, message_size, text);
        delete file;
        return nullptr;
    }
    file->original = file->format.getDataset()->getOriginalXfer();
    *status = CDICOM_OK;
    return file;
}

extern "C" void cdicom_close(cdicom_file *file) { delete file; }

extern "C" void cdicom_get_info(const cdicom_file *constFile, cdicom_info *info) {
    cdicom_file *file = const_cast<cdicom_file *>(constFile);
    DcmDataset *ds = file->format.getDataset();
    std::memset(info, 0, sizeof *info);
    info->rows = uint16Of(ds, DCM_Rows, 0);
    info->columns = uint16Of(ds, DCM_Columns, 0);
    info->samples_per_pixel = uint16Of(ds, DCM_SamplesPerPixel, 1);
    info->bits_allocated = uint16Of(ds, DCM_BitsAllocated, 0);
    info->bits_stored = uint16Of(ds, DCM_BitsStored, info->bits_allocated);
    info->high_bit = uint16Of(ds, DCM_HighBit, info->bits_stored - 1);
    info->pixel_representation = uint16Of(ds, DCM_PixelRepresentation, 0);
    info->planar_configuration = uint16Of(ds, DCM_PlanarConfiguration, 0);
    Sint32 frames = 1;
    info->frames = ds->findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames > 0 ? int(frames) : 1;
    Float64 v = 0;
    info->rescale_slope = ds->findAndGetFloat64(DCM_RescaleSlope, v).good() ? double(v) : 1.0;
    info->rescale_intercept = ds->findAndGetFloat64(DCM_RescaleIntercept, v).good() ? double(v) : 0.0;
    Float64 c = 0, w = 0;
    if (ds->findAndGetFloat64(DCM_WindowCenter, c, 0).good() && ds->findAndGetFloat64(DCM_WindowWidth, w, 0).good()) {
        info->has_window = 1;
        info->window_center = c;
        info->window_width = w;
    }
    info->has_pixel_data = ds->tagExists(DCM_PixelData) ? 1 : 0;
    OFString s;
    if (ds->findAndGetOFString(DCM_PhotometricInterpretation, s).good()) {
        std::snprintf(info->photometric, sizeof info->photometric, "%s", s.c_str());
    }
    DcmXfer xfer(file->original);
    std::snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", xfer.getXferID());
    std::snprintf(info->transfer_syntax_name, sizeof info->transfer_syntax_name, "%s", xfer.getXferName());
}

extern "C" int cdicom_get_string(const cdicom_file *constFile, uint16_t group, uint16_t element, char *out,
                                 size_t out_size) {
    cdicom_file *file = const_cast<cdicom_file *>(constFile);
    OFString s;
    if (file->format.getDataset()->findAndGetOFStringArray(DcmTagKey(group, element), s).bad()) return -1;
    std::snprintf(out, out_size, "%s", s.c_str());
    return int(s.length());
}

extern "C" int cdicom_decode_frame(cdicom_file *file, int frame, float *out, size_t count, char *message,
                                   size_t message_size) {
    DcmDataset *ds = file->format.getDataset();
    cdicom_info info;
    cdicom_get_info(file, &info);
    if (!info.has_pixel_data) {
        say(message, message_size, "no pixel data");
        return CDICOM_NO_PIXELS;
    }
    if (info.bits_allocated != 8 && info.bits_allocated != 16 && info.bits_allocated != 32) {
        char text[96];
        std::snprintf(text, sizeof text, "BitsAllocated %d (8, 16 or 32 are read)", info.bits_allocated);
        say(message, message_size, text);
        return CDICOM_UNSUPPORTED;
    }
    if (info.bits_stored < 1 || info.bits_stored > info.bits_allocated || info.high_bit < info.bits_stored - 1
        || info.high_bit >= info.bits_allocated) {
        say(message, message_size, "BitsStored / HighBit do not fit BitsAllocated");
        return CDICOM_CORRUPT;
    }
    if (frame < 0 || frame >= info.frames) {
        char text[96];
        std::snprintf(text, sizeof text, "frame %d asked; the file has %d", frame, info.frames);
        say(message, message_size, text);
        return CDICOM_CORRUPT;
    }
    size_t frameSamples = size_t(info.rows) * size_t(info.columns) * size_t(info.samples_per_pixel);
    if (count != frameSamples) {
        say(message, message_size, "output buffer does not match the frame size");
        return CDICOM_CORRUPT;
    }
    if (DcmXfer(file->original).isEncapsulated() && !file->decompressed) {
        OFCondition cond = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (cond.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
            char text[200];
            std::snprintf(text, sizeof text, "transfer syntax %s (%s) cannot be decoded here",
                          DcmXfer(file->original).getXferName(), DcmXfer(file->original).getXferID());
            say(message, message_size, text);
            return CDICOM_UNSUPPORTED;
        }
        file->decompressed = true;
    }
    DcmElement *element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element) {
        say(message, message_size, "no pixel data");
        return CDICOM_NO_PIXELS;
    }
    const Uint8 *bytes = nullptr;
    Uint16 *words = nullptr;
    Uint8 *octets = nullptr;
    if (element->getUint16Array(words).good() && words) {
        bytes = reinterpret_cast<const Uint8 *>(words);  // host (little-endian) order, as the file's bytes
    } else if (element->getUint8Array(octets).good() && octets) {
        bytes = octets;
    }
    size_t length = element->getLength();
    size_t width = size_t(info.bits_allocated / 8);
    size_t needed = (size_t(frame) + 1) * frameSamples * width;
    if (!bytes || length < needed) {
        char text[160];
        std::snprintf(text, sizeof text, "pixel data holds %zu bytes; frame %d needs %zu", bytes ? length : 0,
                      frame, needed);
        say(message, message_size, text);
        return CDICOM_TRUNCATED;
    }
    const Uint8 *start = bytes + size_t(frame) * frameSamples * width;
    const int shift = info.high_bit + 1 - info.bits_stored;
    const uint64_t mask = (uint64_t(1) << info.bits_stored) - 1;
    const int64_t signBit = int64_t(1) << (info.bits_stored - 1);
    const bool isSigned = info.pixel_representation == 1;
    const double slope = info.rescale_slope, intercept = info.rescale_intercept;
    const size_t plane = size_t(info.rows) * size_t(info.columns);
    const size_t spp = size_t(info.samples_per_pixel);
    for (size_t i = 0; i < frameSamples; i++) {
        const Uint8 *p = start + i * width;
        uint64_t raw = width == 1 ? p[0] : width == 2 ? uint64_t(p[0] | p[1] << 8)
                                                      : uint64_t(p[0]) | uint64_t(p[1]) << 8 | uint64_t(p[2]) << 16
                                                            | uint64_t(p[3]) << 24;
        int64_t v = int64_t((raw >> shift) & mask);
        if (isSigned && (v & signBit)) v -= int64_t(1) << info.bits_stored;
        // Interleaved colour (PlanarConfiguration 0) goes to planes; planar data is already in that order.
        size_t to = spp == 1 || info.planar_configuration == 1 ? i : (i % spp) * plane + i / spp;
        out[to] = float(double(v) * slope + intercept);
    }
    return CDICOM_OK;
}
