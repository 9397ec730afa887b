using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace First.Tests;

/// <summary>
/// llama.cpp's own model code (libllama.so of shared/tools/llama-cpp-reference.sh) through its C API:
/// tokenize, logits for every position of a prompt, and greedy generation. Parameter structs are taken from
/// llama_*_default_params() and passed back unchanged, so their layout (which changes between
/// versions) never has to be mirrored; only llama_batch (stable since 2023) is.
/// </summary>
internal static unsafe class ReferenceLlama
{
    private static readonly Lazy<Api?> s_api = new(Load);
    private static readonly Lock s_gate = new();

    /// <summary>Token ids of <paramref name="text"/> as llama_tokenize makes them.</summary>
    public static int[] Tokenize(string modelPath, string text, bool addSpecial, bool parseSpecial = false)
    {
        var api = Require();
        lock (s_gate)
        {
            var model = LoadModel(api, modelPath);
            try
            {
                return Tokenize(api, api.GetVocab(model), text, addSpecial, parseSpecial);
            }
            finally
            {
                api.FreeModel(model);
            }
        }
    }

    /// <summary>
    /// llama.cpp's own rendering of a conversation (llama_chat_apply_template: the template recognised by its markers, or
    /// named, then llm_chat_apply_template), or null where llama.cpp does not recognise the template.
    /// </summary>
    public static string? ApplyChatTemplate(string template, IReadOnlyList<(string Role, string Content)> messages, bool addAssistant)
    {
        var api = Require();
        var strings = new List<nint>();
        try
        {
            nint Utf8(string text)
            {
                var bytes = Encoding.UTF8.GetBytes(text + "\0");
                var p = Marshal.AllocHGlobal(bytes.Length);
                Marshal.Copy(bytes, 0, p, bytes.Length);
                strings.Add(p);
                return p;
            }

            var chat = new nint[2 * messages.Count];
            for (var i = 0; i < messages.Count; i++)
            {
                chat[2 * i] = Utf8(messages[i].Role);
                chat[(2 * i) + 1] = Utf8(messages[i].Content);
            }

            var buffer = new byte[1 << 16];
            fixed (nint* c = chat)
            fixed (byte* b = buffer)
            {
                var n = api.ChatApplyTemplate((byte*)Utf8(template), c, (nuint)messages.Count, addAssistant ? (byte)1 : (byte)0, b, buffer.Length);
                Assert.True(n <= buffer.Length, $"llama_chat_apply_template needs {n} bytes");
                return n < 0 ? null : Encoding.UTF8.GetString(buffer, 0, n);
            }
        }
        finally
        {
            strings.ForEach(Marshal.FreeHGlobal);
        }
    }

    /// <summary>
    /// The logits of every position of <paramref name="tokens"/>, [tokens][vocabulary], from one llama_decode (in a
    /// context of <paramref name="contextLength"/> tokens when given, else llama.cpp's default of 512).
    /// </summary>
    public static float[][] Logits(string modelPath, int[] tokens, int? contextLength = null) =>
        WithContext(modelPath, threads: null, tokens.Length, (api, model, ctx, batch) =>
        {
            var vocabSize = api.VocabCount(api.GetVocab(model));
            Decode(api, ctx, batch, tokens, 0, allLogits: true);
            var result = new float[tokens.Length][];
            for (var i = 0; i < tokens.Length; i++)
            {
                result[i] = new ReadOnlySpan<float>(api.GetLogitsIth(ctx, i), vocabSize).ToArray();
            }

            return result;
        }, contextLength);

    /// <summary>
    /// The logits after each of <paramref name="steps"/>, [steps][vocabulary]: <paramref name="prompt"/> in one llama_decode,
    /// then every step token in its own, as decoding runs, with <paramref name="threads"/> threads.
    /// </summary>
    public static float[][] StepLogits(string modelPath, int[] prompt, int[] steps, int threads, int contextLength) =>
        WithContext(modelPath, threads, prompt.Length, (api, model, ctx, batch) =>
        {
            var vocabSize = api.VocabCount(api.GetVocab(model));
            var ids = new List<int>(prompt);
            Decode(api, ctx, batch, ids, 0, allLogits: false);
            var result = new float[steps.Length][];
            for (var i = 0; i < steps.Length; i++)
            {
                ids.Add(steps[i]);
                Decode(api, ctx, batch, ids, ids.Count - 1, allLogits: false);
                result[i] = new ReadOnlySpan<float>(api.GetLogitsIth(ctx, -1), vocabSize).ToArray();
            }

            return result;
        }, contextLength);

    /// <summary>
    /// Greedy generation by llama.cpp's library: the prompt (with BOS) in one llama_decode, then one token
    /// per llama_decode, each the argmax of the last logits; returns the prompt followed by the pieces.
    /// </summary>
    public static string GreedyText(string modelPath, string prompt, int tokens)
    {
        var utf8 = Encoding.UTF8.GetBytes(prompt);

        // Its default of 4 threads spins at every barrier on a 2-core machine: one token took ~0.5 s.
        return WithContext(modelPath, threads: 1, utf8.Length + 16, (api, model, ctx, batch) =>
        {
            var vocab = api.GetVocab(model);
            var vocabSize = api.VocabCount(vocab);
            var ids = new List<int>(Tokenize(api, vocab, prompt, addSpecial: true, parseSpecial: false));
            var text = new StringBuilder(prompt);
            var start = 0;
            for (var step = 0; step < tokens; step++)
            {
                Decode(api, ctx, batch, ids, start, allLogits: false);
                var logits = new ReadOnlySpan<float>(api.GetLogitsIth(ctx, -1), vocabSize);
                var next = 0;
                for (var v = 1; v < vocabSize; v++)
                {
                    next = logits[v] > logits[next] ? v : next;
                }

                if (api.IsEog(vocab, next) != 0)
                {
                    break;
                }

                text.Append(Piece(api, vocab, next));
                start = ids.Count;
                ids.Add(next);
            }

            return text.ToString();
        });
    }

    /// <summary>
    /// Loads the model, makes a context with default parameters (and <paramref name="threads"/> and <paramref name="contextLength"/>
    /// when given) and a batch of <paramref name="batchCapacity"/> tokens, runs <paramref name="body"/>, and frees all three.
    /// </summary>
    private static T WithContext<T>(string modelPath, int? threads, int batchCapacity, Func<Api, nint, nint, nint, T> body, int? contextLength = null)
    {
        var api = Require();
        lock (s_gate)
        {
            var model = LoadModel(api, modelPath);
            try
            {
                Blob contextParams;
                api.ContextDefaults(&contextParams);
                if (contextLength is { } c)
                {
                    *(uint*)&contextParams = (uint)c; // llama_context_params.n_ctx, its first field since 2023
                }

                var ctx = api.InitFromModel(model, contextParams);
                Assert.True(ctx != 0, "llama_init_from_model failed");
                try
                {
                    if (threads is { } n)
                    {
                        api.SetThreads(ctx, n, n);
                    }

                    var batch = (Batch*)NativeMemory.AllocZeroed((nuint)sizeof(Batch));
                    api.BatchInit(batch, batchCapacity, 0, 1);
                    try
                    {
                        return body(api, model, ctx, (nint)batch);
                    }
                    finally
                    {
                        api.BatchFree(*batch);
                        NativeMemory.Free(batch);
                    }
                }
                finally
                {
                    api.Free(ctx);
                }
            }
            finally
            {
                api.FreeModel(model);
            }
        }
    }

    /// <summary>One llama_decode of <paramref name="tokens"/>[start..] at their positions; logits for every one or only the last.</summary>
    private static void Decode(Api api, nint ctx, nint batchAddress, IReadOnlyList<int> tokens, int start, bool allLogits)
    {
        var batch = (Batch*)batchAddress;
        batch->Count = tokens.Count - start;
        for (var i = start; i < tokens.Count; i++)
        {
            var j = i - start;
            batch->Token[j] = tokens[i];
            batch->Pos[j] = i;
            batch->SeqCount[j] = 1;
            batch->SeqId[j][0] = 0;
            batch->Logits[j] = (sbyte)(allLogits || i == tokens.Count - 1 ? 1 : 0);
        }

        Assert.Equal(0, api.Decode(ctx, *batch));
    }

    private static string Piece(Api api, nint vocab, int token)
    {
        var buffer = stackalloc byte[256];
        var n = api.TokenToPiece(vocab, token, buffer, 256, 0, 0);
        Assert.True(n >= 0, $"llama_token_to_piece needs {-n} bytes");
        return Encoding.UTF8.GetString(buffer, n);
    }

    private static nint LoadModel(Api api, string path)
    {
        Blob p;
        api.ModelDefaults(&p);

        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* b = bytes)
        {
            var model = api.LoadFromFile(b, p);
            Assert.True(model != 0, $"llama.cpp could not load {path}");
            return model;
        }
    }

    private static int[] Tokenize(Api api, nint vocab, string text, bool addSpecial, bool parseSpecial)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        var ids = new int[utf8.Length + 16];
        fixed (byte* t = utf8)
        fixed (int* o = ids)
        {
            var n = api.Tokenize(vocab, t, utf8.Length, o, ids.Length, addSpecial ? (byte)1 : (byte)0, parseSpecial ? (byte)1 : (byte)0);
            Assert.True(n >= 0, $"llama_tokenize needs {-n} slots");
            return ids[..n];
        }
    }

    /// <summary>Skips the calling test where the library cannot run (call before an FsCheck property: a skip inside one is a failure).</summary>
    public static void RequireAvailable() => Require();

    private static Api Require()
    {
        if (!ReferenceLibrary.CanRun)
        {
            Assert.Skip("llama.cpp's reference library is built for linux-x64");
        }

        TestPaths.SkipOrFailWithoutReference(s_api.Value is not null, $"llama.cpp's libllama.so ({ReferenceBuild.InstallHint})");
        return s_api.Value!;
    }

    /// <summary>
    /// The libraries llama.cpp was built into from source for the order the engine follows here (<see cref="ReferenceBuild"/>).
    /// The prebuilt ones (lib/) are not used: their CPU variants sum flash attention in other orders than the source
    /// compiled for the CPU, and our kernels follow the latter.
    /// </summary>
    private static Api? Load()
    {
        if (!ReferenceLibrary.CanRun)
        {
            return null;
        }

        var dir = ReferenceBuild.LibraryDir;
        var path = Path.Combine(dir, "libllama.so");
        if (!File.Exists(path) || !File.Exists(Path.Combine(dir, "libggml-cpu.so")))
        {
            return null;
        }

        // Dependencies first, by path: the built libraries' run paths point into a deleted build folder.
        NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
        NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));

        var ggml = NativeLibrary.Load(Path.Combine(dir, "libggml.so"));
        var llama = NativeLibrary.Load(path);
        var api = new Api(llama);
        ((delegate* unmanaged<delegate* unmanaged<int, byte*, void*, void>, void*, void>)NativeLibrary.GetExport(llama, "llama_log_set"))(&Quiet, null);
        var dirBytes = Encoding.UTF8.GetBytes(dir + "\0");
        fixed (byte* d = dirBytes)
        {
            ((delegate* unmanaged<byte*, void>)NativeLibrary.GetExport(ggml, "ggml_backend_load_all_from_path"))(d);
        }

        ((delegate* unmanaged<void>)NativeLibrary.GetExport(llama, "llama_backend_init"))();
        return api;
    }

    [UnmanagedCallersOnly]
    private static void Quiet(int level, byte* text, void* user)
    {
    }

    /// <summary>Room for any version's parameter struct, passed by value as the callee expects (SysV: copied on the stack).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 512)]
    private struct Blob
    {
    }

    /// <summary>llama_batch (llama.h): n_tokens, token, embd, pos, n_seq_id, seq_id, logits.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Batch
    {
        public int Count;
        public int* Token;
        public float* Embedding;
        public int* Pos;
        public int* SeqCount;
        public int** SeqId;
        public sbyte* Logits;
    }

    private sealed class Api(nint lib)
    {
        public readonly delegate* unmanaged<Blob*, void> ModelDefaults = (delegate* unmanaged<Blob*, void>)Sret(lib, "llama_model_default_params");
        public readonly delegate* unmanaged<Blob*, void> ContextDefaults = (delegate* unmanaged<Blob*, void>)Sret(lib, "llama_context_default_params");
        public readonly delegate* unmanaged<byte*, Blob, nint> LoadFromFile = (delegate* unmanaged<byte*, Blob, nint>)NativeLibrary.GetExport(lib, "llama_model_load_from_file");
        public readonly delegate* unmanaged<nint, void> FreeModel = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "llama_model_free");
        public readonly delegate* unmanaged<nint, Blob, nint> InitFromModel = (delegate* unmanaged<nint, Blob, nint>)NativeLibrary.GetExport(lib, "llama_init_from_model");
        public readonly delegate* unmanaged<nint, void> Free = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "llama_free");
        public readonly delegate* unmanaged<nint, nint> GetVocab = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(lib, "llama_model_get_vocab");
        public readonly delegate* unmanaged<nint, int> VocabCount = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(lib, "llama_vocab_n_tokens");
        public readonly delegate* unmanaged<nint, byte*, int, int*, int, byte, byte, int> Tokenize = (delegate* unmanaged<nint, byte*, int, int*, int, byte, byte, int>)NativeLibrary.GetExport(lib, "llama_tokenize");
        public readonly delegate* unmanaged<Batch*, int, int, int, void> BatchInit = (delegate* unmanaged<Batch*, int, int, int, void>)Sret(lib, "llama_batch_init");
        public readonly delegate* unmanaged<Batch, void> BatchFree = (delegate* unmanaged<Batch, void>)NativeLibrary.GetExport(lib, "llama_batch_free");
        public readonly delegate* unmanaged<nint, Batch, int> Decode = (delegate* unmanaged<nint, Batch, int>)NativeLibrary.GetExport(lib, "llama_decode");
        public readonly delegate* unmanaged<nint, int, int, void> SetThreads = (delegate* unmanaged<nint, int, int, void>)NativeLibrary.GetExport(lib, "llama_set_n_threads");
        public readonly delegate* unmanaged<nint, int, byte> IsEog = (delegate* unmanaged<nint, int, byte>)NativeLibrary.GetExport(lib, "llama_vocab_is_eog");
        public readonly delegate* unmanaged<nint, int, byte*, int, int, byte, int> TokenToPiece = (delegate* unmanaged<nint, int, byte*, int, int, byte, int>)NativeLibrary.GetExport(lib, "llama_token_to_piece");
        public readonly delegate* unmanaged<byte*, nint*, nuint, byte, byte*, int, int> ChatApplyTemplate = (delegate* unmanaged<byte*, nint*, nuint, byte, byte*, int, int>)NativeLibrary.GetExport(lib, "llama_chat_apply_template");
        public readonly delegate* unmanaged<nint, int, float*> GetLogitsIth = (delegate* unmanaged<nint, int, float*>)NativeLibrary.GetExport(lib, "llama_get_logits_ith");

        // A function returning a struct in memory takes the result's address as a hidden first argument (SysV).
        private static nint Sret(nint lib, string name) => NativeLibrary.GetExport(lib, name);
    }
}
