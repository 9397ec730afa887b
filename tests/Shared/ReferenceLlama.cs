using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace First.Tests;

/// <summary>
/// llama.cpp's own model code (libllama.so of shared/tools/llama-cpp-reference.sh) through its C API:
/// tokenize and logits for every position of a prompt. Parameter structs are taken from
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

    /// <summary>The logits of every position of <paramref name="tokens"/>, [tokens][vocabulary], from one llama_decode.</summary>
    public static float[][] Logits(string modelPath, int[] tokens)
    {
        var api = Require();
        lock (s_gate)
        {
            var model = LoadModel(api, modelPath);
            try
            {
                Blob contextParams;
                api.ContextDefaults(&contextParams);
                var ctx = api.InitFromModel(model, contextParams);
                Assert.True(ctx != 0, "llama_init_from_model failed");
                try
                {
                    var vocabSize = api.VocabCount(api.GetVocab(model));
                    Batch batch;
                    api.BatchInit(&batch, tokens.Length, 0, 1);
                    try
                    {
                        batch.Count = tokens.Length;
                        for (var i = 0; i < tokens.Length; i++)
                        {
                            batch.Token[i] = tokens[i];
                            batch.Pos[i] = i;
                            batch.SeqCount[i] = 1;
                            batch.SeqId[i][0] = 0;
                            batch.Logits[i] = 1;
                        }

                        Assert.Equal(0, api.Decode(ctx, batch));
                        var result = new float[tokens.Length][];
                        for (var i = 0; i < tokens.Length; i++)
                        {
                            result[i] = new ReadOnlySpan<float>(api.GetLogitsIth(ctx, i), vocabSize).ToArray();
                        }

                        return result;
                    }
                    finally
                    {
                        api.BatchFree(batch);
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

        TestPaths.SkipOrFailWithoutReference(s_api.Value is not null, "llama.cpp's libllama.so");
        return s_api.Value!;
    }

    private static Api? Load()
    {
        var dir = Path.Combine(TestPaths.ReferenceDir, "lib");
        var path = Path.Combine(dir, "libllama.so");
        if (!ReferenceLibrary.CanRun || !File.Exists(path))
        {
            return null;
        }

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
        public readonly delegate* unmanaged<nint, int, float*> GetLogitsIth = (delegate* unmanaged<nint, int, float*>)NativeLibrary.GetExport(lib, "llama_get_logits_ith");

        // A function returning a struct in memory takes the result's address as a hidden first argument (SysV).
        private static nint Sret(nint lib, string name) => NativeLibrary.GetExport(lib, name);
    }
}
