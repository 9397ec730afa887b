using System.CommandLine;
using First.Cpu.Kernels;
using First.Cpu.Quants;

namespace First.Cli.Commands;

/// <summary><c>first kernels</c>: which instruction-set paths this machine offers and which kernel each format gets.</summary>
internal static class KernelsCommand
{
    public static Command Create()
    {
        var command = new Command("kernels", "Show the CPU paths this machine runs and the kernel chosen for each tensor format");
        command.SetAction(_ => CliErrors.Run(() =>
        {
            var forced = KernelRegistry.Forced; // a bad FIRST_KERNELS fails here, before anything is printed
            Console.Out.WriteLine($"cpu paths     {KernelRegistry.Describe()}");
            if (forced is not null)
            {
                Console.Out.WriteLine($"forced        {KernelRegistry.Variable}={forced.Value.ToString().ToLowerInvariant()}");
            }

            Console.Out.WriteLine($"float order   {GgmlOrders.Describe(GgmlOrders.Current)}");
            if (KernelRegistry.WideRowPath is { } rows && KernelRegistry.WideIntegerTime(rows) is { } wide)
            {
                var verdict = KernelRegistry.WideIntegerPays(rows) ? "used where a format has them" : "not used here";
                Console.Out.WriteLine($"avx512 prefill {wide:0.00}x the time of {rows.ToString().ToLowerInvariant()}'s on this cpu: {verdict}");
            }

            foreach (var format in QuantFormats.All.Where(f => f.IsWeightFormat).OrderBy(f => f.Type))
            {
                var dot = KernelRegistry.ChooseDot(format.Type);
                var quantizer = KernelRegistry.ChooseQuantizer(format.Activation);
                var interleaved = KernelRegistry.ChooseInterleaved(format.Type, dot) is { } k ? $"  rows in eights {k.Name}{(k.PairsPay ? " (two groups per call)" : "")}" : "";
                Console.Out.WriteLine($"{format.Info.Name,-6}        {dot.Name,-22} activations {quantizer.Name}{interleaved}");
            }

            return 0;
        }));
        return command;
    }
}
