// HDF5's read API as plain functions: its property-list, dataspace and native-type names are macros (some reading
// library globals after H5open) that Swift cannot import.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/// Opens a file read-only, with HDF5's error printing to stderr turned off (stdout and stderr stay the engine's).
static inline hid_t unet_h5_open_readonly(const char *path) {
    if (H5open() < 0) return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

/// A group, dataset or attribute at `name` below `loc` (a path; every component is checked, so a missing one
/// answers -1 rather than an error stack).
static inline hid_t unet_h5_open_root(hid_t file) { return H5Gopen2(file, "/", H5P_DEFAULT); }
static inline hid_t unet_h5_open_group(hid_t loc, const char *name) {
    return H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Gopen2(loc, name, H5P_DEFAULT) : -1;
}
static inline hid_t unet_h5_open_dataset(hid_t loc, const char *name) {
    return H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
}

/// The dimensions of a dataset (at most `max` of them); answers their number, or -1.
static inline int unet_h5_dataset_dims(hid_t dataset, unsigned long long *dims, int max) {
    hid_t space = H5Dget_space(dataset);
    if (space < 0) return -1;
    int n = H5Sget_simple_extent_ndims(space);
    hsize_t d[32];
    if (n < 0 || n > max || n > 32 || H5Sget_simple_extent_dims(space, d, NULL) < 0) n = -1;
    for (int i = 0; i < n; i++) dims[i] = d[i];
    H5Sclose(space);
    return n;
}

/// Whether the dataset holds floating-point numbers (float32 or float64: HDF5 converts them to float on reading).
static inline int unet_h5_dataset_is_float(hid_t dataset) {
    hid_t type = H5Dget_type(dataset);
    if (type < 0) return 0;
    int ok = H5Tget_class(type) == H5T_FLOAT;
    H5Tclose(type);
    return ok;
}

static inline herr_t unet_h5_read_floats(hid_t dataset, float *out) {
    return H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
}

/// A string or string-array attribute (fixed-length, as Keras 2 writes them, or variable-length) as its strings
/// joined by '\n', malloc'd; NULL when absent or not strings.
static inline char *unet_h5_string_attribute(hid_t obj, const char *name) {
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return NULL;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    char *joined = NULL;
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (type >= 0 && count > 0 && H5Tget_class(type) == H5T_STRING) {
        size_t total = 0;
        if (H5Tis_variable_str(type) > 0) {
            char **items = calloc((size_t)count, sizeof(char *));
            hid_t memtype = H5Tcopy(H5T_C_S1);
            H5Tset_size(memtype, H5T_VARIABLE);
            if (items && H5Aread(attr, memtype, items) >= 0) {
                for (hssize_t i = 0; i < count; i++) total += (items[i] ? strlen(items[i]) : 0) + 1;
                joined = calloc(total + 1, 1);
                for (hssize_t i = 0; joined && i < count; i++) {
                    if (items[i]) strcat(joined, items[i]);
                    if (i + 1 < count) strcat(joined, "\n");
                }
                H5Dvlen_reclaim(memtype, space, H5P_DEFAULT, items);
            }
            H5Tclose(memtype);
            free(items);
        } else {
            size_t size = H5Tget_size(type);
            char *raw = calloc((size_t)count * size + 1, 1);
            if (raw && H5Aread(attr, type, raw) >= 0) {
                joined = calloc((size_t)count * (size + 1) + 1, 1);
                for (hssize_t i = 0; joined && i < count; i++) {
                    strncat(joined, raw + (size_t)i * size, size);
                    if (i + 1 < count) strcat(joined, "\n");
                }
            }
            free(raw);
        }
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Aclose(attr);
    return joined;
}

/// The names of a group's members, joined by '\n' in HDF5's name order, malloc'd; NULL on failure.
static inline char *unet_h5_member_names(hid_t group) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) return NULL;
    size_t capacity = 1, used = 0;
    char *joined = calloc(1, 1);
    for (hsize_t i = 0; joined && i < info.nlinks; i++) {
        ssize_t n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (n < 0) { free(joined); return NULL; }
        capacity += (size_t)n + 1;
        char *grown = realloc(joined, capacity);
        if (!grown) { free(joined); return NULL; }
        joined = grown;
        if (used > 0) joined[used++] = '\n';
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, joined + used, (size_t)n + 1, H5P_DEFAULT);
        used += (size_t)n;
        joined[used] = 0;
    }
    return joined;
}
