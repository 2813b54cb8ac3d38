/* A stand-in for libedgetpu.so.1 (no Coral TPU exists here): the same plugin entry points LiteRT's
 * load_delegate() looks up, and the failures a user meets, chosen by $EDGETPU_STANDIN:
 *   (unset) or "ok"  a delegate that claims no operation (every op stays on the CPU, results unchanged)
 *   "absent"         no Edge TPU plugged in: creation fails with the runtime's message
 *   "crash"          the library aborts the process, as one built for another TensorFlow version can
 * The "device" option accepts what libedgetpu does ("usb", "pci", "usb:N", "pci:N", ":N") and refuses
 * any other value. Built by edge_sim.edgetpu_delegate.build(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct StandInDelegate {  /* TfLiteDelegate's layout (tensorflow/lite/core/c/common.h) */
    void *data_;
    int (*Prepare)(void *context, struct StandInDelegate *delegate);
    int (*CopyFromBufferHandle)(void *, struct StandInDelegate *, int, void *);
    int (*CopyToBufferHandle)(void *, struct StandInDelegate *, int, void *);
    void (*FreeBufferHandle)(void *, struct StandInDelegate *, int *);
    int64_t flags;
    void *opaque_delegate_builder;
} StandInDelegate;

static int prepare(void *context, StandInDelegate *delegate) {
    (void)context; (void)delegate;
    return 0;  /* kTfLiteOk, and no node replaced */
}

static int valid_device(const char *device) {
    if (strcmp(device, "usb") == 0 || strcmp(device, "pci") == 0) return 1;
    if (strncmp(device, "usb:", 4) == 0 || strncmp(device, "pci:", 4) == 0) device += 4;
    else if (device[0] == ':') device += 1;
    else return 0;
    return device[0] == '0' && device[1] == '\0';  /* one TPU: index 0 only */
}

StandInDelegate *tflite_plugin_create_delegate(char **keys, char **values, size_t count,
                                               void (*report_error)(const char *)) {
    const char *mode = getenv("EDGETPU_STANDIN");
    if (mode && strcmp(mode, "crash") == 0) abort();
    if (mode && strcmp(mode, "absent") == 0) {
        if (report_error) report_error("Failed to open device: no Edge TPU found");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(keys[i], "device") == 0 && !valid_device(values[i])) {
            if (report_error) report_error("Could not open the Edge TPU device named by the \"device\" option");
            return NULL;
        }
    }
    StandInDelegate *delegate = calloc(1, sizeof(StandInDelegate));
    if (delegate) delegate->Prepare = prepare;
    return delegate;
}

void tflite_plugin_destroy_delegate(StandInDelegate *delegate) { free(delegate); }
