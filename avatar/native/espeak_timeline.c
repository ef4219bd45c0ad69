/*
 * espeak_timeline — one espeak-ng synthesis, two products: the audio as a 16-bit mono WAV
 * file and the event timeline (phonemes, words, sentences) as JSON lines on stdout.
 *
 * The espeak-ng command line only reports phoneme timings through mbrola, which Debian
 * does not ship, and the nexus-avatar crate forbids unsafe Rust (so no FFI there): this
 * small program links libespeak-ng and is run as a child process by
 * `nexus_avatar::lip_sync::espeak`. Keeping espeak-ng (GPL-3) in its own process also
 * keeps it out of the crate's binary.
 *
 * Usage:  espeak_timeline VOICE RATE PITCH OUT.wav  < text.txt
 *   VOICE  espeak-ng voice name ("en", "en-us", "fr")
 *   RATE   words per minute, 80..450 (175 is espeak's normal)
 *   PITCH  base pitch, 0..100 (50 is normal)
 *   text   UTF-8 on stdin (at most 64 KiB)
 *
 * Output, one JSON object per line, times in ms from the start of the WAV:
 *   {"type":"start","sample_rate":22050,"voice":"en"}
 *   {"type":"sentence","ms":0,"number":1}
 *   {"type":"word","ms":0,"text_position":1,"length":5}
 *   {"type":"phoneme","ms":12,"phoneme":"oU"}
 *   {"type":"end","ms":870}                       (end of a clause or sentence)
 *   {"type":"done","ms":1010,"samples":22271}     (last line, after the WAV is complete)
 * Exit status: 0 ok, 2 usage, 3 espeak-ng init failed, 4 unknown voice, 5 I/O error,
 * 6 synthesis failed. Errors go to stderr.
 *
 * Build: gcc -O2 -Wall -Wextra espeak_timeline.c -lespeak-ng -o espeak_timeline
 */
#include <espeak-ng/speak_lib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT (64 * 1024)

static FILE *wav_out;
static uint32_t total_samples;
static int write_failed;

/* JSON string body: escapes quotes, backslashes and control bytes; UTF-8 passes through. */
static void print_json_string(const char *s, size_t max_len) {
    putchar('"');
    for (size_t i = 0; i < max_len && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static int synth_callback(short *wav, int numsamples, espeak_EVENT *events) {
    if (wav != NULL && numsamples > 0 && !write_failed) {
        /* espeak-ng produces native-endian samples; WAV is little-endian. */
        for (int i = 0; i < numsamples; i++) {
            uint16_t v = (uint16_t)wav[i];
            unsigned char b[2] = {(unsigned char)(v & 0xff), (unsigned char)(v >> 8)};
            if (fwrite(b, 1, 2, wav_out) != 2) {
                write_failed = 1;
                break;
            }
        }
        total_samples += (uint32_t)numsamples;
    }
    for (espeak_EVENT *e = events; e != NULL && e->type != espeakEVENT_LIST_TERMINATED; e++) {
        switch (e->type) {
        case espeakEVENT_PHONEME:
            /* The name is packed into id.string: up to 8 bytes, NUL-terminated if shorter. */
            printf("{\"type\":\"phoneme\",\"ms\":%d,\"phoneme\":", e->audio_position);
            print_json_string(e->id.string, sizeof e->id.string);
            printf("}\n");
            break;
        case espeakEVENT_WORD:
            printf("{\"type\":\"word\",\"ms\":%d,\"text_position\":%d,\"length\":%d}\n",
                   e->audio_position, e->text_position, e->length);
            break;
        case espeakEVENT_SENTENCE:
            printf("{\"type\":\"sentence\",\"ms\":%d,\"number\":%d}\n", e->audio_position,
                   e->id.number);
            break;
        case espeakEVENT_END:
            printf("{\"type\":\"end\",\"ms\":%d}\n", e->audio_position);
            break;
        default:
            break; /* marks, play, msg_terminated, samplerate: not used */
        }
    }
    return 0; /* continue synthesis */
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
    p[2] = (unsigned char)((v >> 16) & 0xff);
    p[3] = (unsigned char)((v >> 24) & 0xff);
}

static void put_u16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8);
}

/* The canonical 44-byte PCM header: RIFF / fmt (16-bit mono) / data. */
static int write_wav_header(FILE *f, uint32_t sample_rate, uint32_t samples) {
    unsigned char h[44];
    uint32_t data_bytes = samples * 2;
    memcpy(h, "RIFF", 4);
    put_u32(h + 4, 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_u32(h + 16, 16);          /* fmt chunk size */
    put_u16(h + 20, 1);           /* PCM */
    put_u16(h + 22, 1);           /* mono */
    put_u32(h + 24, sample_rate);
    put_u32(h + 28, sample_rate * 2); /* byte rate */
    put_u16(h + 32, 2);           /* block align */
    put_u16(h + 34, 16);          /* bits per sample */
    memcpy(h + 36, "data", 4);
    put_u32(h + 40, data_bytes);
    return fwrite(h, 1, sizeof h, f) == sizeof h ? 0 : -1;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv) {
    int rate = 0, pitch = 0;
    if (argc != 5 || parse_int(argv[2], espeakRATE_MINIMUM, espeakRATE_MAXIMUM, &rate) != 0 ||
        parse_int(argv[3], 0, 100, &pitch) != 0) {
        fprintf(stderr, "usage: %s VOICE RATE(80-450) PITCH(0-100) OUT.wav < text\n",
                argc > 0 ? argv[0] : "espeak_timeline");
        return 2;
    }
    const char *voice = argv[1];
    const char *wav_path = argv[4];

    static char text[MAX_TEXT + 1];
    size_t len = fread(text, 1, MAX_TEXT, stdin);
    if (ferror(stdin)) {
        fprintf(stderr, "espeak_timeline: cannot read text from stdin\n");
        return 5;
    }
    if (!feof(stdin)) {
        fprintf(stderr, "espeak_timeline: text longer than %d bytes\n", MAX_TEXT);
        return 2;
    }
    text[len] = '\0';

    /* Synchronous: espeak_Synth returns once every callback has run. Path NULL: default
     * data directory (or ESPEAK_DATA_PATH). DONT_EXIT: report errors instead of exit(). */
    int sample_rate = espeak_Initialize(
        AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL,
        espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_DONT_EXIT);
    if (sample_rate <= 0) {
        fprintf(stderr, "espeak_timeline: espeak_Initialize failed (%d)\n", sample_rate);
        return 3;
    }
    if (espeak_SetVoiceByName(voice) != EE_OK) {
        fprintf(stderr, "espeak_timeline: unknown voice '%s'\n", voice);
        espeak_Terminate();
        return 4;
    }
    espeak_SetParameter(espeakRATE, rate, 0);
    espeak_SetParameter(espeakPITCH, pitch, 0);
    espeak_SetSynthCallback(synth_callback);

    wav_out = fopen(wav_path, "wb");
    if (wav_out == NULL || write_wav_header(wav_out, (uint32_t)sample_rate, 0) != 0) {
        fprintf(stderr, "espeak_timeline: cannot write '%s'\n", wav_path);
        espeak_Terminate();
        return 5;
    }

    printf("{\"type\":\"start\",\"sample_rate\":%d,\"voice\":", sample_rate);
    print_json_string(voice, strlen(voice));
    printf("}\n");

    espeak_ERROR err = espeak_Synth(text, len + 1, 0, POS_CHARACTER, 0,
                                    espeakCHARS_UTF8 | espeakENDPAUSE, NULL, NULL);
    if (err == EE_OK) err = espeak_Synchronize();
    espeak_Terminate();
    if (err != EE_OK) {
        fprintf(stderr, "espeak_timeline: synthesis failed (%d)\n", (int)err);
        fclose(wav_out);
        return 6;
    }

    /* Patch the sizes now that the sample count is known. */
    if (write_failed || fseek(wav_out, 0, SEEK_SET) != 0 ||
        write_wav_header(wav_out, (uint32_t)sample_rate, total_samples) != 0 ||
        fclose(wav_out) != 0) {
        fprintf(stderr, "espeak_timeline: cannot write '%s'\n", wav_path);
        return 5;
    }
    long done_ms = (long)((uint64_t)total_samples * 1000u / (uint32_t)sample_rate);
    printf("{\"type\":\"done\",\"ms\":%ld,\"samples\":%u}\n", done_ms, total_samples);
    return fflush(stdout) == 0 ? 0 : 5;
}
