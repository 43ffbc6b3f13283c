#ifndef CDICOM_H
#define CDICOM_H

// A small C API over DCMTK for Swift: parse a DICOM file held in memory, read its image attributes and tags,
// and decode one frame (decompressing RLE, JPEG baseline / extended / lossless and JPEG-LS with DCMTK's codecs) to
// floats through the modality LUT (rescale slope and intercept). Windowing and MONOCHROME1 inversion are left to
// the caller, which owns the size limits: nothing here allocates a frame before the caller has seen its size.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Why a call failed; the message buffer says more.
enum {
    CDICOM_OK = 0,
    CDICOM_CORRUPT = 1,      // not parseable as DICOM, or inconsistent attributes
    CDICOM_TRUNCATED = 2,    // the data ends before the element or frame does
    CDICOM_UNSUPPORTED = 3,  // a transfer syntax without a decoder here, or a pixel layout not handled
    CDICOM_NO_PIXELS = 4,    // no PixelData element
};

/// The attributes that say how to read the pixels (PS3.3 C.7.6.3), as the file declares them.
typedef struct {
    int rows, columns, frames, samples_per_pixel;
    int bits_allocated, bits_stored, high_bit, pixel_representation, planar_configuration;
    double rescale_slope, rescale_intercept;
    int has_window;  // the first WindowCenter / WindowWidth pair is present
    double window_center, window_width;
    int has_pixel_data;
    char photometric[32];
    char transfer_syntax[72];  // its UID
    char transfer_syntax_name[96];
} cdicom_info;

typedef struct cdicom_file cdicom_file;

/// Parses `count` bytes (a DICOM Part 10 file with its 128-byte preamble and DICM prefix); the bytes may be
/// released afterwards. On failure returns NULL, with a CDICOM_ code in `*status` and a message in `message`.
cdicom_file *cdicom_open(const void *bytes, size_t count, int *status, char *message, size_t message_size);

void cdicom_close(cdicom_file *file);

/// The pixel attributes of an open file.
void cdicom_get_info(const cdicom_file *file, cdicom_info *info);

/// The value of tag (group, element) as a string (several values joined by '\'); -1 when absent.
int cdicom_get_string(const cdicom_file *file, uint16_t group, uint16_t element, char *out, size_t out_size);

/// Decodes frame `frame` into `out` (samples_per_pixel planes of rows x columns, planar, row-major): the stored
/// values masked to BitsStored, sign-extended for PixelRepresentation 1, times the slope plus the intercept.
/// `count` must be rows * columns * samples_per_pixel. Returns a CDICOM_ code.
int cdicom_decode_frame(cdicom_file *file, int frame, float *out, size_t count, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
